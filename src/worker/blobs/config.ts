// Limits and lifetime of photos and files, from wrangler.toml [vars].
import { positiveInteger } from "../config";

export interface MediaConfig {
  /** The largest photo, in bytes before sealing. */
  photoBytes: number;
  /** The largest file. */
  fileBytes: number;
  /** A blob not yet fetched by every device is deleted this long after its upload began. */
  ttlMs: number;
  /** What one account may hold at once, so numbers nobody uses cannot fill the bucket. */
  accountBlobs: number;
  accountBytes: number;
}

const MiB = 1024 * 1024;

export function mediaConfig(env: Env): MediaConfig {
  return {
    photoBytes: positiveInteger(env.MEDIA_PHOTO_MAX_BYTES, 16 * MiB),
    fileBytes: positiveInteger(env.MEDIA_FILE_MAX_BYTES, 100 * MiB),
    ttlMs: positiveInteger(env.MEDIA_TTL_MS, 14 * 24 * 60 * 60 * 1000),
    accountBlobs: positiveInteger(env.MEDIA_ACCOUNT_MAX_BLOBS, 200),
    accountBytes: positiveInteger(env.MEDIA_ACCOUNT_MAX_BYTES, 1024 * MiB),
  };
}
