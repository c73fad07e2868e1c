// Photos and files in the linked browser: attaching one (button or
// drag-and-drop) checks the limit first, makes a thumbnail, keeps the upload
// and a copy of the file in IndexedDB (chat-store.ts), then seals and
// uploads it with progress; an upload cut off (a dropped connection, a
// reload, a crashed tab) goes on from the parts the server has. A photo in
// the conversation opens full size on click, a file downloads from its card.
// Photos are fetched as they arrive, files when clicked; what this browser
// fetched or sent it keeps (media-cache.ts), and only once it keeps a copy
// does it tell the server, which deletes a blob once every device has it.
import { BlobClient, BlobRequestError, deviceSigner, type Progress } from "../../shared/blob-transfer";
import { BLOB_CHUNK_BYTES } from "../../shared/blob-crypto";
import { THUMBNAIL_MAX_CHARS, type Attachment, type BlobKind } from "../../shared/protocol";
import { forgetUpload, keepUpload, loadUploadFile, saveUpload, type PendingUpload } from "./chat-store";
import { $ } from "./dom";
import { MediaCache, type Kept } from "./media-cache";
import { showAttachment, typedFile } from "./media-view";

/** The longest side of a thumbnail, in pixels. */
const THUMBNAIL_PIXELS = 64;

const RELINK = "Photos and files need this browser to be linked again.";

export class ChatMedia {
  private readonly client: BlobClient | null;
  private readonly cache = new MediaCache();
  /** Downloads under way, by blob id: a click on a photo still arriving waits for it instead of fetching it twice. */
  private readonly fetching = new Map<string, Promise<Blob>>();
  /** Photos that arrived are fetched one after another, behind this. */
  private receiving: Promise<void> = Promise.resolve();
  /** Why this browser stopped using the link here (another window took over, or it ended); null while in use. */
  private stopped: string | null = null;
  /** Aborts every request under way once stopped, so nothing here writes after the link is gone. */
  private readonly stopping = new AbortController();
  /** Everything under way that may write the store: stop() waits for it. */
  private readonly work = new Set<Promise<unknown>>();

  constructor(link: { linkId?: string; deviceKey: CryptoKey }) {
    // A link from before link ids cannot sign media requests: it has to be linked again for photos.
    const fetcher = (request: Request) => fetch(request, { signal: this.stopping.signal });
    this.client = link.linkId ? new BlobClient(location.origin, deviceSigner(location.origin, link.linkId, link.deviceKey), fetcher) : null;
  }

  /**
   * Stops every upload and download here, for `reason`, and settles once none
   * can write any more: a logout clears the store only after this, so no
   * photo or upload of the account comes back into it.
   */
  async stop(reason: string): Promise<void> {
    this.stopped = reason;
    this.stopping.abort(new Error(reason));
    while (this.work.size > 0) await Promise.allSettled([...this.work]);
  }

  /** Runs `step` as work stop() waits for. */
  private track<T>(step: Promise<T>): Promise<T> {
    this.work.add(step);
    void step.finally(() => this.work.delete(step)).catch(() => undefined);
    return step;
  }

  /**
   * Checks a file attached to `message` against its limit (the user is told
   * before anything is uploaded), and keeps it with its upload, so the upload
   * survives a reload; null after telling the user why not.
   */
  prepareUpload(file: File, message: PendingUpload["message"]): Promise<PendingUpload | null> {
    return this.track(this.prepareUploadNow(file, message));
  }

  private async prepareUploadNow(file: File, message: PendingUpload["message"]): Promise<PendingUpload | null> {
    if (!this.client) return this.fail(RELINK);
    const kind: BlobKind = /^image\/(png|jpeg|webp|gif)$/.test(file.type) ? "photo" : "file";
    try {
      await this.client.checkLimit(kind, file.size);
      const thumbnail = kind === "photo" ? await thumbnailOf(file) : undefined;
      const upload: PendingUpload = { message, kind, name: file.name.slice(0, 255) || "file", mime: file.type || "application/octet-stream", size: file.size, ...(thumbnail ? { thumbnail } : {}) };
      await keepUpload(upload, file);
      return upload;
    } catch (error) {
      return this.fail(error instanceof BlobRequestError ? `${file.name}: ${error.message}.` : `${file.name} could not be sent: ${String(error)}`);
    }
  }

  /**
   * Seals and uploads a kept file, or goes on with its upload from the parts
   * the server has; its attachment, or null after telling the user (the
   * upload stays kept, to go on when the connection is back). An upload the
   * server no longer has (it expired) starts again from the kept copy.
   * `attached` is the file as the user gave it, read rather than the copy
   * while this page has it.
   */
  upload(pending: PendingUpload, attached?: Blob): Promise<Attachment | null> {
    return this.track(this.uploadNow(pending, attached));
  }

  private async uploadNow(pending: PendingUpload, attached?: Blob): Promise<Attachment | null> {
    if (!this.client) return this.fail(RELINK);
    const file = attached ?? (await loadUploadFile(pending.message.id));
    if (!file) {
      // Nothing can ever send it: forgotten, so it is said once, not at every reconnect.
      await forgetUpload(pending.message.id);
      return this.fail(`${pending.name} could not be sent: this browser no longer holds a copy of it. Attach it again.`);
    }
    const read = async (offset: number, length: number) => {
      if (this.stopped) throw new Error(this.stopped);
      return new Uint8Array(await file.slice(offset, offset + length).arrayBuffer());
    };
    let what = pending.blob ? `Resuming ${pending.name}` : `Sending ${pending.name}`;
    for (let startedAgain = false; ; startedAgain = true) {
      // Said at once: the first progress comes only with the first part stored.
      const progress = this.progress(what);
      progress(0, pending.size);
      try {
        const sent = await this.client.upload(
          { kind: pending.kind, size: pending.size, read },
          {
            ...(pending.blob ? { resume: pending.blob } : {}),
            progress,
            // Kept before any part is sent: a reload from here on resumes this blob.
            started: (upload) => (pending.blob?.blobId === upload.blobId ? undefined : saveUpload({ ...pending, blob: upload }).then(() => void (pending.blob = upload))),
          },
        );
        const { kind, mime, name, thumbnail } = pending;
        const attachment: Attachment = { ...sent, kind, mime, name, chunkBytes: BLOB_CHUNK_BYTES, ...(thumbnail ? { thumbnail } : {}) };
        // The sender opens its own file from its copy: the server waits only for the other devices to fetch it.
        await this.cache.keep(sent.blobId, typedFile(file, attachment), "sent");
        this.status(null);
        return attachment;
      } catch (error) {
        if (pending.blob && error instanceof BlobRequestError && error.status === 403 && !this.stopped && !startedAgain) {
          // The server has no such upload any more: it expired (14 days). Nothing is lost: the copy kept here goes again, once.
          delete pending.blob;
          await saveUpload(pending);
          what = `Sending ${pending.name} again from the start (its unfinished upload had expired)`;
          continue;
        }
        if (this.stopped) return this.fail(`${pending.name}: ${this.stopped}.`);
        if (error instanceof BlobRequestError && error.code === "payload_too_large") {
          // Over a limit the page could not check (offline) or that the server lowered since: no retry can send it, so it is forgotten and said once, with its words.
          await forgetUpload(pending.message.id);
          const words = pending.message.text ? ` Its message was: “${pending.message.text}”` : "";
          return this.fail(`${pending.name} could not be sent: ${error.message}.${words}`);
        }
        const reason = error instanceof Error ? error.message : String(error);
        return this.fail(`${pending.name}: the upload stopped (${reason}). It is tried again when the connection is back, or when this page is opened again.`);
      }
    }
  }

  /**
   * A photo that just arrived in a chat: fetched now, in the background and
   * one at a time, so this browser holds it before the server deletes it (once
   * every other device has it, or after 14 days) whether or not it is ever
   * clicked. Quiet: one that fails is fetched again when clicked. Files wait
   * for a click: they may be large and never wanted, and the server keeps
   * each for this browser until it has fetched it (or for 14 days).
   */
  receive(attachment: Attachment): void {
    if (!this.client || attachment.kind !== "photo") return;
    const { blobId } = attachment;
    this.receiving = this.track(
      this.receiving
        .then(async () => {
          if (!this.stopped && !this.fetching.has(blobId) && !(await this.cache.has(blobId))) await this.fetch(attachment, "received");
        })
        .catch(() => undefined),
    );
  }

  /** Opens an attachment, from the copy kept here or else fetched and checked: a photo shows full size, a file is saved. */
  open(attachment: Attachment): Promise<void> {
    return this.track(this.openNow(attachment));
  }

  private async openNow(attachment: Attachment): Promise<void> {
    if (this.stopped) return;
    try {
      let file = await this.cache.get(attachment.blobId);
      if (!file) {
        if (!this.client) return void this.fail(RELINK);
        file = await this.fetch(attachment, "opened", this.progress(`Fetching ${attachment.name}`));
        this.status(null);
      }
      showAttachment(file, attachment);
    } catch (error) {
      // The server answers 403 for a blob it deleted (every device had it, or it expired): not a fault, and nothing here can bring it back.
      if (error instanceof BlobRequestError && error.status === 403) {
        return void this.status(`${attachment.name} is no longer available: the server deleted it once every device had it, and this browser no longer keeps a copy. Ask the phone to send it again.`);
      }
      this.fail(`${attachment.name} could not be opened: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /**
   * Downloads an attachment once however often it is asked for while under
   * way (a click on a photo still arriving in the background waits for it,
   * and it is then kept as opened).
   */
  private fetch(attachment: Attachment, how: Exclude<Kept, "sent">, progress?: Progress): Promise<Blob> {
    const { blobId } = attachment;
    let fetching = this.fetching.get(blobId);
    if (!fetching) {
      fetching = this.download(attachment, how, progress).finally(() => this.fetching.delete(blobId));
      this.fetching.set(blobId, fetching);
    } else if (how === "opened") {
      fetching = fetching.then(async (file) => ((await this.cache.has(blobId)) ? file : this.keepAndAcknowledge(blobId, file, how)));
    }
    return fetching;
  }

  /**
   * Downloads, checks and keeps a blob; the server hears this browser has it
   * only once it is kept, so it is never deleted while no copy is held here.
   * One fetched in the background that finds no room is not kept: the server
   * keeps it until it is opened.
   */
  private async download(attachment: Attachment, how: Exclude<Kept, "sent">, progress?: Progress): Promise<Blob> {
    return this.keepAndAcknowledge(attachment.blobId, typedFile(await this.client!.download(attachment, progress), attachment), how);
  }

  private async keepAndAcknowledge(blobId: string, file: Blob, how: Exclude<Kept, "sent">): Promise<Blob> {
    if (await this.cache.keep(blobId, file, how)) void this.acknowledge(blobId);
    return file;
  }

  /** Tells the server this browser keeps the blob; one that fails is told again when the relay is back (acknowledgeKept). */
  private acknowledge(blobId: string): Promise<void> {
    return this.client!.fetched(blobId).then(
      () => this.cache.acknowledged(blobId),
      () => undefined,
    );
  }

  /** Tells the server again of every kept file it has not heard of: the relay is back, or the page opened again. */
  acknowledgeKept(): void {
    if (!this.client || this.stopped) return;
    void this.track(this.cache.unacknowledged().then((blobIds) => Promise.all(blobIds.map((blobId) => this.acknowledge(blobId))))).catch(() => undefined);
  }

  /** The bar follows every part; the words (a polite live region) change every tenth, so a screen reader is not flooded. */
  private progress(what: string): Progress {
    let said = -1;
    return (done, total) => {
      const fraction = Math.min(1, done / Math.max(1, total));
      const tenth = Math.floor(fraction * 10) * 10;
      if (tenth !== said) this.status(`${what}… ${(said = tenth)}%`);
      $("media-status").style.setProperty("--progress", String(fraction));
    };
  }

  private status(text: string | null): void {
    const status = $("media-status");
    status.hidden = text === null;
    status.textContent = text ?? "";
    delete status.dataset.error;
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
