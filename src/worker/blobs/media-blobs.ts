// One MediaBlobs object per account (by phone number): the account's photos
// and files as sealed blobs in R2, which of its devices may still fetch
// each, and their expiry. Bytes never pass through this object: the Worker
// streams them between the device and R2; this object keeps the bookkeeping
// and deletes a blob once every device it was meant for fetched it, or when
// it expires (its alarm), whichever comes first.
import { DurableObject } from "cloudflare:workers";
import { partCount, partSize } from "../../shared/blob-crypto";
import { randomBase64url } from "../../shared/crypto";
import type { BlobKind, BlobUploadState } from "../../shared/protocol";
import { failure, success, type Outcome } from "../outcome";
import { mediaConfig, type MediaConfig } from "./config";
import { BlobStore, type BlobRecord } from "./store";

/** Where a part goes in R2, for the Worker to stream it there. */
export interface PartTarget {
  key: string;
  uploadId: string;
  /** The part's exact length in bytes. */
  bytes: number;
}

/** R2's key for a blob: its random id only, so the bucket does not say whose it is. */
export function objectKey(blobId: string): string {
  return `blobs/${blobId}`;
}

const NOT_THIS_ACCOUNTS = "no blob with this id belongs to this account: it never did, or every device fetched it, or it expired";

export class MediaBlobs extends DurableObject<Env> {
  private readonly store: BlobStore;
  private readonly config: MediaConfig;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new BlobStore(ctx.storage);
    this.config = mediaConfig(env);
  }

  /**
   * Starts an upload for `uploader` ("phone" or a link id); `recipients` are
   * the account's other devices, which must each fetch it before it goes.
   * Over its kind's limit it is refused before any byte is sent.
   */
  async create(kind: BlobKind, size: number, uploader: string, recipients: string[]): Promise<Outcome<BlobUploadState>> {
    const limit = kind === "photo" ? this.config.photoBytes : this.config.fileBytes;
    if (size > limit) {
      return failure("payload_too_large", `${kind === "photo" ? "photos" : "files"} may be at most ${formatMiB(limit)}; this one is ${formatMiB(size)}`);
    }
    const held = this.store.held();
    if (held.blobs >= this.config.accountBlobs || held.bytes + size > this.config.accountBytes) {
      return failure("rate_limited", `this account already holds ${held.blobs} photos and files (${formatMiB(held.bytes)}), the most it may until its devices fetch them or they expire`);
    }
    const id = randomBase64url(16);
    const upload = await this.env.MEDIA.createMultipartUpload(objectKey(id));
    const now = Date.now();
    const expiresAt = now + this.config.ttlMs;
    const record = { id, kind, size, partCount: partCount(size), uploadId: upload.uploadId, uploader, expiresAt };
    this.store.create({ ...record, createdAt: now, recipients: recipients.filter((device) => device !== uploader) });
    await this.armExpiry();
    return success(this.store.state({ ...record, complete: false }));
  }

  /** Where the upload stands (for a device resuming it, or about to download). */
  state(blobId: string): Outcome<BlobUploadState> {
    const blob = this.store.blob(blobId);
    return blob ? success(this.store.state(blob)) : failure("forbidden", NOT_THIS_ACCOUNTS);
  }

  /** Where part `part` goes; only the uploader may send parts, and only before the upload completes. */
  partTarget(blobId: string, device: string, part: number): Outcome<PartTarget> {
    const blob = this.uploading(blobId, device);
    if (!blob.ok) return blob;
    if (!Number.isInteger(part) || part < 1 || part > blob.value.partCount) return failure("invalid_input", `part: must be 1 to ${blob.value.partCount}`);
    return success({ key: objectKey(blobId), uploadId: blob.value.uploadId, bytes: partSize(blob.value.size, part) });
  }

  partStored(blobId: string, part: number, etag: string): void {
    if (this.store.blob(blobId)) this.store.savePart(blobId, part, etag);
  }

  /** Every part is stored: R2 joins them into the blob, and devices may fetch it. */
  async complete(blobId: string, device: string): Promise<Outcome<BlobUploadState>> {
    const blob = this.uploading(blobId, device);
    if (!blob.ok) return blob.code === "wrong_state" && this.store.blob(blobId)?.complete ? this.state(blobId) : blob;
    const parts = this.store.parts(blobId);
    if (parts.length !== blob.value.partCount) {
      return failure("wrong_state", `${parts.length} of ${blob.value.partCount} parts are stored; upload the rest first`);
    }
    const upload = this.env.MEDIA.resumeMultipartUpload(objectKey(blobId), blob.value.uploadId);
    await upload.complete(parts.map(({ part, etag }) => ({ partNumber: part, etag })));
    this.store.markComplete(blobId);
    return this.state(blobId);
  }

  /** A complete blob a device of this account may download. */
  readable(blobId: string): Outcome<BlobUploadState> {
    const blob = this.store.blob(blobId);
    if (!blob) return failure("forbidden", NOT_THIS_ACCOUNTS);
    if (!blob.complete) return failure("wrong_state", "this blob is still being uploaded");
    return success(this.store.state(blob));
  }

  /** `device` fetched and opened the blob; once every device it was meant for has, it is deleted. */
  async fetched(blobId: string, device: string): Promise<Outcome<{ deleted: boolean }>> {
    const blob = this.readable(blobId);
    if (!blob.ok) return blob;
    if (this.store.fetchedBy(blobId, device) > 0) return success({ deleted: false });
    await this.remove(this.store.blob(blobId)!);
    return success({ deleted: true });
  }

  /** The devices that have yet to fetch the blob (for tests and the phone's view). */
  pendingDevices(blobId: string): string[] {
    return this.store.blob(blobId) ? this.store.recipients(blobId) : [];
  }

  /** Deletes every blob past its expiry, fetched or not, and arms the next. */
  override async alarm(): Promise<void> {
    for (const blob of this.store.expired(Date.now())) await this.remove(blob);
    await this.armExpiry();
  }

  private uploading(blobId: string, device: string): Outcome<BlobRecord> {
    const blob = this.store.blob(blobId);
    if (!blob) return failure("forbidden", NOT_THIS_ACCOUNTS);
    if (blob.uploader !== device) return failure("forbidden", "only the device that started this upload may add to it");
    if (blob.complete) return failure("wrong_state", "this upload is already complete");
    return success(blob);
  }

  /** R2 first, then the row: a failure in between leaves a row whose expiry tries again. */
  private async remove(blob: BlobRecord): Promise<void> {
    if (blob.complete) await this.env.MEDIA.delete(objectKey(blob.id));
    else await this.env.MEDIA.resumeMultipartUpload(objectKey(blob.id), blob.uploadId).abort().catch(() => {});
    this.store.delete(blob.id);
  }

  private async armExpiry(): Promise<void> {
    const next = this.store.nextExpiry();
    if (next === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(next);
  }
}

function formatMiB(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(bytes % (1024 * 1024) === 0 ? 0 : 1)} MiB`;
}
