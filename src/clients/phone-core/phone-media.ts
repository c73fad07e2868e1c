// The phone's side of photos and files: it fetches what a browser attached
// (checking its SHA-256, then telling the server it has it), and uploads the
// photos its simulated contacts send, generated on the spot.
import type { BlobClient } from "../../shared/blob-transfer";
import { BLOB_CHUNK_BYTES } from "../../shared/blob-crypto";
import type { Attachment } from "../../shared/protocol";
import { generatedPhoto } from "./generated-photo";

/** A contact's photo: this size, its thumbnail a tenth of it. */
const PHOTO_SIZE = { width: 480, height: 320 } as const;
const THUMBNAIL_SIZE = { width: 48, height: 32 } as const;

export class PhoneMedia {
  /** What the phone fetched, by blob id: the phone page shows it full size. */
  readonly files = new Map<string, Uint8Array<ArrayBuffer>>();

  constructor(private readonly client: BlobClient) {}

  /** Fetches, opens and checks an attachment a browser sent; the server may delete it once every device has. */
  async receive(attachment: Attachment): Promise<Uint8Array<ArrayBuffer>> {
    const bytes = this.files.get(attachment.blobId) ?? (await this.client.download(attachment));
    this.files.set(attachment.blobId, bytes);
    await this.client.fetched(attachment.blobId);
    return bytes;
  }

  /** A generated photo, sealed and uploaded: the attachment for a contact's message. */
  async contactPhoto(seed: number): Promise<Attachment> {
    const bytes = await generatedPhoto(seed, PHOTO_SIZE.width, PHOTO_SIZE.height);
    const thumbnail = await generatedPhoto(seed, THUMBNAIL_SIZE.width, THUMBNAIL_SIZE.height);
    const sent = await this.client.upload({ kind: "photo", size: bytes.length, read: async (offset, length) => bytes.slice(offset, offset + length) });
    this.files.set(sent.blobId, bytes);
    return {
      ...sent,
      kind: "photo",
      mime: "image/png",
      name: `photo-${seed}.png`,
      thumbnail: `data:image/png;base64,${btoa(String.fromCharCode(...thumbnail))}`,
      chunkBytes: BLOB_CHUNK_BYTES,
    };
  }
}
