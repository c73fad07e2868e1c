// Photos and files in the linked browser: attaching one (button or
// drag-and-drop) checks the limit first, makes a thumbnail, seals and
// uploads it with progress; a photo in the conversation opens full size on
// click, a file downloads from its card. What this browser fetched it tells
// the server, which deletes a blob once every device has it.
import { BlobClient, BlobRequestError, deviceSigner, type Progress } from "../../shared/blob-transfer";
import { BLOB_CHUNK_BYTES } from "../../shared/blob-crypto";
import { THUMBNAIL_MAX_CHARS, type Attachment, type BlobKind } from "../../shared/protocol";
import { $ } from "./dom";

/** The longest side of a thumbnail, in pixels. */
const THUMBNAIL_PIXELS = 64;

export class ChatMedia {
  private readonly client: BlobClient | null;
  /** Opened files, by blob id, so a second click does not fetch again. */
  private readonly opened = new Map<string, string>();

  constructor(link: { linkId?: string; deviceKey: CryptoKey }) {
    // A link from before link ids cannot sign media requests: it has to be linked again for photos.
    this.client = link.linkId ? new BlobClient(location.origin, deviceSigner(location.origin, link.linkId, link.deviceKey)) : null;
  }

  /**
   * Seals and uploads a file for a message, or null after telling the user
   * why not (over the limit: before anything is uploaded).
   */
  async attach(file: File): Promise<Attachment | null> {
    if (!this.client) return this.fail("Photos and files need this browser to be linked again.");
    const kind: BlobKind = /^image\/(png|jpeg|webp|gif)$/.test(file.type) ? "photo" : "file";
    try {
      await this.client.checkLimit(kind, file.size);
      const thumbnail = kind === "photo" ? await thumbnailOf(file) : undefined;
      const read = async (offset: number, length: number) => new Uint8Array(await file.slice(offset, offset + length).arrayBuffer());
      const sent = await this.client.upload({ kind, size: file.size, read }, { progress: this.progress(`Sending ${file.name}`) });
      // The sender opens its own file from here: the server waits only for the other devices to fetch it.
      this.opened.set(sent.blobId, URL.createObjectURL(file));
      this.status(null);
      return { ...sent, kind, mime: file.type || "application/octet-stream", name: file.name.slice(0, 255) || "file", chunkBytes: BLOB_CHUNK_BYTES, ...(thumbnail ? { thumbnail } : {}) };
    } catch (error) {
      return this.fail(error instanceof BlobRequestError ? `${file.name}: ${error.message}.` : `${file.name} could not be sent: ${String(error)}`);
    }
  }

  /** Fetches, opens and checks an attachment: a photo shows full size, a file is saved. */
  async open(attachment: Attachment): Promise<void> {
    if (!this.client) return void this.fail("Photos and files need this browser to be linked again.");
    try {
      let url = this.opened.get(attachment.blobId);
      if (!url) {
        const bytes = await this.client.download(attachment, this.progress(`Fetching ${attachment.name}`));
        url = URL.createObjectURL(new Blob([bytes], { type: attachment.kind === "photo" ? attachment.mime : "application/octet-stream" }));
        this.opened.set(attachment.blobId, url);
        this.status(null);
        void this.client.fetched(attachment.blobId).catch(() => undefined);
      }
      if (attachment.kind === "photo") showFullSize(url, attachment.name);
      else saveAs(url, attachment.name);
    } catch (error) {
      this.fail(`${attachment.name} could not be opened: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private progress(what: string): Progress {
    return (done, total) => this.status(`${what}… ${Math.floor((100 * done) / Math.max(1, total))}%`, done / Math.max(1, total));
  }

  private status(text: string | null, fraction?: number): void {
    const status = $("media-status");
    status.hidden = text === null;
    status.textContent = text ?? "";
    if (fraction !== undefined) status.style.setProperty("--progress", String(fraction));
  }

  private fail(text: string): null {
    this.status(text);
    $("media-status").dataset.error = "true";
    return null;
  }
}

/** A JPEG data URL of the photo at most THUMBNAIL_PIXELS on its longest side. */
async function thumbnailOf(file: File): Promise<string | undefined> {
  try {
    const bitmap = await createImageBitmap(file);
    const scale = THUMBNAIL_PIXELS / Math.max(bitmap.width, bitmap.height, 1);
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * Math.min(1, scale)));
    canvas.height = Math.max(1, Math.round(bitmap.height * Math.min(1, scale)));
    canvas.getContext("2d")!.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    const url = canvas.toDataURL("image/jpeg", 0.6);
    return url.length <= THUMBNAIL_MAX_CHARS ? url : undefined;
  } catch {
    return undefined;
  }
}

function showFullSize(url: string, name: string): void {
  const viewer = $<HTMLDialogElement>("media-viewer");
  const image = $<HTMLImageElement>("media-viewer-image");
  image.src = url;
  image.alt = name;
  if (!viewer.open) viewer.showModal();
}

function saveAs(url: string, name: string): void {
  const anchor = document.createElement("a");
  anchor.href = url;
  anchor.download = name;
  anchor.click();
}
