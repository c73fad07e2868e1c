// Moving a photo or file between a device and the server: sealed part by
// part on the way up (R2 multipart: a cut upload asks which parts are stored
// and sends the rest), opened chunk by chunk on the way down (a cut download
// resumes with a Range from the last whole chunk), its SHA-256 checked
// against the one its message carried. Used by the browser and the phone.
//
// The SHA-256 is the platform's one-shot digest over the whole file: the
// receiver holds the file whole anyway, and the sender reads it whole once
// (a photo is at most 16 MiB, a file 100 MiB) while its parts are sealed
// and sent, so the digest runs beside them, natively, instead of in script
// on the way (a JS SHA-256 took 0.4 to 0.6 s of a page's thread for a 10 MiB
// photo in Chromium here). A file changed between the two reads fails the
// receiver's check, as any other mismatch.
import {
  BLOB_CHUNK_BYTES,
  BLOB_TAG_BYTES,
  importBlobSecret,
  newBlobSecret,
  openingStream,
  partSize,
  sealedSize,
  sealPart,
  type BlobKey,
  type ReadRange,
} from "./blob-crypto";
import { sha256Base64url } from "./crypto";
import { BLOBS_PATH, DEVICE_HEADERS, signDeviceRequest, UNSIGNED_PAYLOAD, type BlobKind, type BlobLimits, type BlobUploadState, type ErrorBody } from "./protocol";

/** Signs a media request as this device: the phone with its identity key, a browser with its device key. */
export type BlobSigner = (method: string, path: string, bodyHash: string) => Promise<Record<string, string>>;

/** A linked browser's signer: its link id, and its device key over the request (see deviceRequestText). */
export function deviceSigner(server: string, linkId: string, privateKey: CryptoKey): BlobSigner {
  const host = new URL(server).host;
  return async (method, path, bodyHash) => {
    const timestamp = String(Date.now());
    const signature = await signDeviceRequest(privateKey, { host, linkId, method, path, timestamp, bodyHash });
    return { [DEVICE_HEADERS.link]: linkId, [DEVICE_HEADERS.timestamp]: timestamp, [DEVICE_HEADERS.signature]: signature };
  };
}

/** Bytes done of bytes in all, for a progress bar. */
export type Progress = (done: number, total: number) => void;

/** A file to send: its kind (which limit applies), size, and a way to read it. */
export interface OutgoingFile {
  kind: BlobKind;
  size: number;
  read: ReadRange;
}

/** What the receiver needs, sent in the chat message: where the blob is, its secret, and what it must hash to. */
export interface UploadedBlob {
  blobId: string;
  secret: string;
  sha256: string;
  size: number;
}

/** An upload that was cut off: started again with the same blob and secret, it sends only the parts R2 lacks. */
export interface UploadInProgress {
  blobId: string;
  secret: string;
}

export class BlobRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "BlobRequestError";
  }
}

/** Upload parts on their way at once: enough to keep the line busy while the next part is sealed. */
const PARTS_IN_FLIGHT = 3;

/** How many times one request is tried when the connection drops, before the transfer gives up (to be resumed later). */
const ATTEMPTS = 4;

export class BlobClient {
  private knownLimits: Promise<BlobLimits> | null = null;

  constructor(
    private readonly server: string,
    private readonly sign: BlobSigner,
    private readonly fetcher: (request: Request) => Promise<Response> = (request) => fetch(request),
    /** Waits before a retry; tests pass one that does not sleep. */
    private readonly pause: (attempt: number) => Promise<void> = (attempt) => new Promise((resolve) => setTimeout(resolve, 250 * 2 ** attempt)),
  ) {}

  /**
   * Asked once per client: they are the deployment's configuration, and a
   * round trip before every upload took longer than sealing a 10 MiB photo. The
   * server refuses an upload over its limit anyway, before any byte.
   */
  limits(): Promise<BlobLimits> {
    this.knownLimits ??= this.json<BlobLimits>("GET", `${BLOBS_PATH}/limits`).catch((error: unknown) => {
      this.knownLimits = null;
      throw error;
    });
    return this.knownLimits;
  }

  /**
   * Refuses a file over its kind's limit before anything is uploaded; the
   * message says the limit. Offline the limits cannot be asked for: the file
   * is let through, to wait for the connection, and its upload is refused
   * then, before any byte, if it is over.
   */
  async checkLimit(kind: BlobKind, size: number): Promise<void> {
    let limits: BlobLimits;
    try {
      limits = await this.limits();
    } catch (error) {
      // Only a request that got no answer (fetch's TypeError, as sendPart and download read it) is let through; a refusal or a bad answer is said.
      if (!(error instanceof TypeError)) throw error;
      return;
    }
    const limit = kind === "photo" ? limits.photoBytes : limits.fileBytes;
    if (size > limit) throw new BlobRequestError(413, "payload_too_large", `${kind === "photo" ? "Photos" : "Files"} may be at most ${limit / (1024 * 1024)} MiB`);
  }

  /**
   * Seals and uploads a file; `resume` continues an upload that was cut off
   * (same blob, same secret), sending only the parts not yet stored. The
   * started upload is reported through `started` so a caller can keep it;
   * no part is sent before what it returns has settled.
   */
  async upload(file: OutgoingFile, options: { resume?: UploadInProgress; progress?: Progress; started?: (upload: UploadInProgress) => unknown } = {}): Promise<UploadedBlob> {
    let upload = options.resume;
    let state: BlobUploadState;
    if (upload) {
      state = await this.json<BlobUploadState>("GET", `${BLOBS_PATH}/${upload.blobId}/upload`);
    } else {
      const secret = newBlobSecret();
      state = await this.json<BlobUploadState>("POST", BLOBS_PATH, JSON.stringify({ kind: file.kind, size: file.size })).catch((error: unknown) => {
        // Refused for its size: the limits asked for earlier are out of date, and are asked for again next time.
        if (error instanceof BlobRequestError && error.code === "payload_too_large") this.knownLimits = null;
        throw error;
      });
      upload = { blobId: state.blobId, secret };
    }
    await options.started?.(upload);
    const blobKey = (await importBlobSecret(upload.secret))!;
    const stored = new Set(state.uploaded);
    // The file is read once: its parts are sealed from, and its SHA-256 taken over, the same bytes.
    const whole = await file.read(0, file.size);
    const digest = sha256Base64url(whole);
    // Awaited once the parts are sent; a digest that fails meanwhile is not left unhandled.
    digest.catch(() => undefined);
    let done = 0;
    const sent = (bytes: number) => {
      done += bytes;
      options.progress?.(done, sealedSize(file.size));
    };
    // Parts are sealed in order and sent PARTS_IN_FLIGHT at a time; a stored part is not sealed again.
    const inFlight: Promise<void>[] = [];
    try {
      for (let part = 1; part <= state.partCount; part++) {
        if (stored.has(part)) {
          sent(partSize(file.size, part));
          continue;
        }
        const sealed = await sealPart(blobKey, file.size, part, async (offset, length) => whole.subarray(offset, offset + length));
        inFlight.push(this.sendPart(upload.blobId, part, sealed).then(() => sent(sealed.length)));
        if (inFlight.length >= PARTS_IN_FLIGHT) await inFlight.shift();
      }
      await Promise.all(inFlight);
    } catch (error) {
      // The parts still on their way settle first, so none fails unheard; a resume sends what they did not store.
      await Promise.allSettled(inFlight);
      throw error;
    }
    if (!state.complete) await this.json("POST", `${BLOBS_PATH}/${upload.blobId}/complete`, "");
    return { blobId: upload.blobId, secret: upload.secret, sha256: await digest, size: file.size };
  }

  /**
   * Downloads, opens and checks a blob; a connection that drops resumes from
   * the last whole chunk. Throws BlobTamperedError if a chunk was changed, and
   * BlobRequestError if the SHA-256 is not the one the message carried.
   */
  async download(blob: UploadedBlob, progress?: Progress): Promise<Uint8Array<ArrayBuffer>> {
    const blobKey = await importBlobSecret(blob.secret);
    if (!blobKey) throw new BlobRequestError(0, "invalid_input", "the message's key for this file is malformed");
    const chunks: Uint8Array[] = [];
    const total = sealedSize(blob.size);
    for (let attempt = 0; ; attempt++) {
      try {
        await this.readFrom(blob, blobKey, chunks.length, (chunk) => {
          chunks.push(chunk);
          progress?.(Math.min(total, chunks.length * (BLOB_CHUNK_BYTES + BLOB_TAG_BYTES)), total);
        });
        break;
      } catch (error) {
        if (!(error instanceof TypeError) || attempt + 1 >= ATTEMPTS) throw error;
        await this.pause(attempt);
      }
    }
    const file = join(chunks, blob.size);
    // A digest is public: compared as text, no secret to time.
    if ((await sha256Base64url(file)) !== blob.sha256) {
      throw new BlobRequestError(0, "hash_mismatch", "the file does not have the SHA-256 its message carried");
    }
    return file;
  }

  /** Tells the server this device has the blob: once every device has, it is deleted. */
  async fetched(blobId: string): Promise<{ deleted: boolean }> {
    return this.json("POST", `${BLOBS_PATH}/${blobId}/fetched`, "");
  }

  private async readFrom(blob: UploadedBlob, blobKey: BlobKey, firstChunk: number, chunk: (plaintext: Uint8Array) => void): Promise<void> {
    const path = `${BLOBS_PATH}/${blob.blobId}`;
    const headers = await this.sign("GET", path, await sha256Base64url(""));
    if (firstChunk > 0) headers.range = `bytes=${firstChunk * (BLOB_CHUNK_BYTES + BLOB_TAG_BYTES)}-`;
    const response = await this.fetcher(new Request(new URL(path, this.server), { headers }));
    if (!response.ok || !response.body) throw await requestError(response);
    if (firstChunk > 0 && response.status !== 206) throw new BlobRequestError(response.status, "bad_range", "the server did not resume the download");
    const reader = response.body.pipeThrough(openingStream(blobKey, blob.size, firstChunk)).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunk(value);
    }
  }

  private async sendPart(blobId: string, part: number, sealed: Uint8Array<ArrayBuffer>): Promise<void> {
    const path = `${BLOBS_PATH}/${blobId}/parts/${part}`;
    // As a Blob: Chromium copies a typed-array body on the page's thread (over 100 ms for a 5 MiB part), a Blob's mostly off it.
    const body = new Blob([sealed]);
    for (let attempt = 0; ; attempt++) {
      try {
        const headers = await this.sign("PUT", path, UNSIGNED_PAYLOAD);
        const response = await this.fetcher(new Request(new URL(path, this.server), { method: "PUT", headers, body }));
        if (!response.ok) throw await requestError(response);
        return;
      } catch (error) {
        if (!(error instanceof TypeError) || attempt + 1 >= ATTEMPTS) throw error;
        await this.pause(attempt);
      }
    }
  }

  private async json<Reply>(method: "GET" | "POST", path: string, body?: string): Promise<Reply> {
    const headers = await this.sign(method, path, await sha256Base64url(body ?? ""));
    if (body) headers["content-type"] = "application/json";
    const response = await this.fetcher(new Request(new URL(path, this.server), { method, headers, body: method === "POST" ? body : undefined }));
    if (!response.ok) throw await requestError(response);
    return (await response.json()) as Reply;
  }
}

async function requestError(response: Response): Promise<BlobRequestError> {
  const body = (await response.json().catch(() => null)) as ErrorBody | null;
  return new BlobRequestError(response.status, body?.error.code ?? "http_error", body?.error.message ?? `the server answered ${response.status}`);
}

function join(chunks: Uint8Array[], size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
