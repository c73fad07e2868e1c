// Photos and files through the Worker and R2: only the devices of the
// account may upload or download, a cut upload or download resumes, the
// bucket holds ciphertext only, and a blob goes once every device fetched it
// or once it expires.
import { env, runDurableObjectAlarm } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { BLOB_CHUNK_BYTES, BLOB_PART_CHUNKS, newBlobSecret } from "../../src/shared/blob-crypto";
import { BlobClient, BlobRequestError, deviceSigner, type OutgoingFile } from "../../src/shared/blob-transfer";
import { generateIdentityKeyPair, sha256Base64url } from "../../src/shared/crypto";
import { BLOBS_PATH } from "../../src/shared/protocol";
import type { Phone } from "../../src/clients/phone-core/phone";
import { objectKey } from "../../src/worker/blobs/media-blobs";
import { clock, linkBrowser, linkedPair, ORIGIN, phoneFetch, workerFetch, type LinkedPair } from "./helpers";

const DAY_MS = 24 * 60 * 60 * 1000;

function phoneClient(phone: Phone, fetcher = phoneFetch()): BlobClient {
  return new BlobClient(ORIGIN, (method, path, bodyHash) => phone.signedHeaders(method, path, bodyHash), fetcher, async () => {});
}

function browserClient(pair: LinkedPair, fetcher: (request: Request) => Promise<Response> = workerFetch): BlobClient {
  return new BlobClient(ORIGIN, deviceSigner(ORIGIN, pair.browser.linkId!, pair.deviceKey.privateKey), fetcher, async () => {});
}

/** A file whose every 64-byte line says where it is, so its plaintext is easy to search for. */
function knownFile(size: number, kind: OutgoingFile["kind"] = "file"): { file: OutgoingFile; bytes: Uint8Array<ArrayBuffer> } {
  const bytes = new Uint8Array(size);
  const line = new TextEncoder().encode("KNOWN-PLAINTEXT-LINE-".padEnd(64, "."));
  for (let offset = 0; offset < size; offset += line.length) bytes.set(line.subarray(0, Math.min(line.length, size - offset)), offset);
  return { bytes, file: { kind, size, read: async (offset, length) => bytes.slice(offset, offset + length) } };
}

const sha256Hex = sha256Base64url;

async function refusal(promise: Promise<unknown>): Promise<BlobRequestError> {
  const error = await promise.then(
    () => null,
    (thrown: unknown) => thrown,
  );
  if (!(error instanceof BlobRequestError)) throw new Error(`expected a refusal, got ${String(error)}`);
  return error;
}

/** Starts an upload and stops before its first part, as a device that went away at once. */
async function startOnly(client: BlobClient, file: OutgoingFile): Promise<{ blobId: string }> {
  let blobId = "";
  const stop = new Error("stopped before the parts");
  const stopped = client.upload(file, {
    started: (upload) => {
      blobId = upload.blobId;
      throw stop;
    },
  });
  await expect(stopped).rejects.toBe(stop);
  return { blobId };
}

afterEach(() => clock.stop());

describe("photos and files", () => {
  it("a browser's photo reaches the phone with the same SHA-256, and the bucket holds no plaintext", async () => {
    const pair = await linkedPair();
    const { file, bytes } = knownFile(3 * BLOB_CHUNK_BYTES + 123, "photo");
    const progress: number[] = [];
    const sent = await browserClient(pair).upload(file, { progress: (done) => progress.push(done) });
    expect(progress.length).toBeGreaterThan(0);

    const stored = await env.MEDIA.get(objectKey(sent.blobId));
    const ciphertext = new Uint8Array(await stored!.arrayBuffer());
    expect(new TextDecoder("latin1").decode(ciphertext)).not.toContain("KNOWN-PLAINTEXT");

    const received = await phoneClient(pair.phone).download(sent);
    expect(await sha256Hex(received)).toBe(await sha256Hex(bytes));
    expect(sent.sha256).toBe(await sha256Base64url(bytes));
  });

  it("refuses a file whose SHA-256 is not the one its message carried, though every chunk opens", async () => {
    const pair = await linkedPair();
    const { file, bytes } = knownFile(2 * BLOB_CHUNK_BYTES + 5, "photo");
    const sent = await browserClient(pair).upload(file);
    const otherFile = bytes.slice();
    otherFile[0]! ^= 1;
    const error = await refusal(phoneClient(pair.phone).download({ ...sent, sha256: await sha256Base64url(otherFile) }));
    expect(error.code).toBe("hash_mismatch");
    expect(await sha256Hex(await phoneClient(pair.phone).download(sent))).toBe(await sha256Hex(bytes));
  });

  describe("only the devices of the account", () => {
    it("refuse a request signed by no device (403), for upload and download", async () => {
      const pair = await linkedPair();
      const sent = await phoneClient(pair.phone).upload(knownFile(1000).file);
      const create = await workerFetch(BLOBS_PATH, { method: "POST", body: JSON.stringify({ kind: "photo", size: 10 }), headers: { "content-type": "application/json" } });
      expect(create.status).toBe(403);
      expect(await create.json()).toMatchObject({ error: { code: "forbidden" } });
      expect((await workerFetch(`${BLOBS_PATH}/${sent.blobId}`)).status).toBe(403);
      expect((await workerFetch(`${BLOBS_PATH}/${sent.blobId}/parts/1`, { method: "PUT", body: "x" })).status).toBe(403);
    });

    it("refuse a device of another link: its browser and its phone (403), for upload and download", async () => {
      const [ours, theirs] = [await linkedPair(), await linkedPair()];
      const sent = await browserClient(ours).upload(knownFile(5000).file);
      for (const stranger of [browserClient(theirs), phoneClient(theirs.phone)]) {
        const download = await refusal(stranger.download(sent));
        expect([download.status, download.code]).toEqual([403, "forbidden"]);
        const resume = await refusal(stranger.upload(knownFile(5000).file, { resume: { blobId: sent.blobId, secret: sent.secret } }));
        expect(resume.status).toBe(403);
        expect((await refusal(stranger.fetched(sent.blobId))).status).toBe(403);
      }
      // …and the blob is untouched for its own devices.
      expect((await phoneClient(ours.phone).download(sent)).length).toBe(5000);
    });

    it("refuse a browser whose device key did not sign, and one of another link claiming this link", async () => {
      const [ours, theirs] = [await linkedPair(), await linkedPair()];
      const sent = await phoneClient(ours.phone).upload(knownFile(100).file);
      const forged = new BlobClient(ORIGIN, deviceSigner(ORIGIN, ours.browser.linkId!, (await generateIdentityKeyPair(false)).privateKey), workerFetch);
      expect((await refusal(forged.download(sent))).status).toBe(403);
      const borrowed = new BlobClient(ORIGIN, deviceSigner(ORIGIN, ours.browser.linkId!, theirs.deviceKey.privateKey), workerFetch);
      expect((await refusal(borrowed.download(sent))).status).toBe(403);
    });

    it("let only the uploader add parts to an upload", async () => {
      const pair = await linkedPair();
      const { file } = knownFile(100);
      const { blobId } = await startOnly(phoneClient(pair.phone), file);
      const more = await refusal(browserClient(pair).upload(file, { resume: { blobId, secret: newBlobSecret() } }));
      expect([more.status, more.message]).toEqual([403, "only the device that started this upload may add to it"]);
    });
  });

  it("refuses a photo over 16 MiB and a file over 100 MiB before anything is uploaded", async () => {
    const pair = await linkedPair();
    const client = phoneClient(pair.phone);
    const photo = await refusal(client.upload({ kind: "photo", size: 16 * 1024 * 1024 + 1, read: () => Promise.reject(new Error("read")) }));
    expect([photo.status, photo.code]).toEqual([413, "payload_too_large"]);
    expect(photo.message).toContain("16 MiB");
    const file = await refusal(client.upload({ kind: "file", size: 100 * 1024 * 1024 + 1, read: () => Promise.reject(new Error("read")) }));
    expect(file.message).toContain("100 MiB");
    expect(await client.limits()).toEqual({ photoBytes: 16 * 1024 * 1024, fileBytes: 100 * 1024 * 1024 });
  });

  it("lets a file through while the limits cannot be asked for (offline), asks again next time, and the upload is refused then if it is over", async () => {
    const pair = await linkedPair();
    let asked = 0;
    const client = browserClient(pair, async (request) => {
      if (new URL(request.url).pathname === `${BLOBS_PATH}/limits` && ++asked === 1) throw new TypeError("the network is down");
      return workerFetch(request);
    });
    // Offline, even a photo over the limit waits for the connection: the server refuses it before any byte.
    await client.checkLimit("photo", 16 * 1024 * 1024 + 1);
    const atUpload = await refusal(client.upload({ kind: "photo", size: 16 * 1024 * 1024 + 1, read: () => Promise.reject(new Error("nothing is read before the server agrees")) }));
    expect([atUpload.status, atUpload.code]).toEqual([413, "payload_too_large"]);
    await client.checkLimit("photo", 16 * 1024 * 1024);
    const over = await refusal(client.checkLimit("photo", 16 * 1024 * 1024 + 1));
    expect([over.status, over.message]).toEqual([413, "Photos may be at most 16 MiB"]);
    expect(asked).toBe(2);
  });

  it("asks for the limits again once the server refuses an upload over a limit it lowered since", async () => {
    const pair = await linkedPair();
    let asked = 0;
    // The first answer is from before a deploy that lowered the photo limit to what the server enforces now.
    const client = browserClient(pair, async (request) => {
      if (new URL(request.url).pathname !== `${BLOBS_PATH}/limits`) return workerFetch(request);
      const response = await workerFetch(request);
      if (++asked > 1) return response;
      const current = (await response.json()) as { photoBytes: number; fileBytes: number };
      return Response.json({ ...current, photoBytes: current.photoBytes * 2 });
    });
    const size = 16 * 1024 * 1024 + 1;
    await client.checkLimit("photo", size);
    const refused = await refusal(client.upload({ kind: "photo", size, read: () => Promise.reject(new Error("nothing is read before the server agrees")) }));
    expect(refused.code).toBe("payload_too_large");
    const now = await refusal(client.checkLimit("photo", size));
    expect([now.status, now.message, asked]).toEqual([413, "Photos may be at most 16 MiB", 2]);
  });

  it("refuses a part of the wrong length", async () => {
    const pair = await linkedPair();
    const client = phoneClient(pair.phone);
    const { blobId } = await startOnly(client, knownFile(1000).file);
    const path = `${BLOBS_PATH}/${blobId}/parts/1`;
    const headers = await pair.phone.signedHeaders("PUT", path, "unsigned-payload");
    const response = await phoneFetch()(new Request(new URL(path, ORIGIN), { method: "PUT", headers, body: new Uint8Array(999) }));
    expect(response.status).toBe(400);
  });

  it("an upload cut half way resumes with the parts R2 lacks", async () => {
    const pair = await linkedPair();
    const size = BLOB_PART_CHUNKS * BLOB_CHUNK_BYTES + 4096; // two parts
    const { file, bytes } = knownFile(size, "photo");
    const sentParts: string[] = [];
    let cut = true;
    const flaky = async (request: Request) => {
      if (request.method === "PUT") {
        sentParts.push(new URL(request.url).pathname);
        if (cut && request.url.endsWith("/parts/2")) throw new TypeError("connection dropped");
      }
      return workerFetch(request);
    };
    const client = browserClient(pair, flaky);
    let started: { blobId: string; secret: string } | undefined;
    await expect(client.upload(file, { started: (upload) => (started = upload) })).rejects.toThrow(/connection dropped/);
    cut = false;
    sentParts.length = 0;
    const sent = await client.upload(file, { resume: started! });
    expect(sentParts).toEqual([`${BLOBS_PATH}/${started!.blobId}/parts/2`]);
    expect(await sha256Hex(await phoneClient(pair.phone).download(sent))).toBe(await sha256Hex(bytes));
  });

  it("a download cut half way resumes from the last whole chunk", async () => {
    const pair = await linkedPair();
    const { file, bytes } = knownFile(5 * BLOB_CHUNK_BYTES + 7);
    const sent = await phoneClient(pair.phone).upload(file);
    const ranges: (string | null)[] = [];
    const flaky = async (request: Request) => {
      ranges.push(request.headers.get("range"));
      const response = await workerFetch(request);
      if (ranges.length > 1) return response;
      // The first answer stops after two and a half chunks.
      const reader = response.body!.getReader();
      let passed = 0;
      const cutBody = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { done, value } = await reader.read();
          if (done || passed > 2.5 * BLOB_CHUNK_BYTES) return controller.error(new TypeError("connection dropped"));
          passed += value.length;
          controller.enqueue(value);
        },
      });
      return new Response(cutBody, response);
    };
    const received = await browserClient(pair, flaky).download(sent);
    expect(await sha256Hex(received)).toBe(await sha256Hex(bytes));
    expect(ranges[0]).toBeNull();
    expect(ranges[1]).toMatch(/^bytes=\d+-$/);
  });

  it("a blob is deleted once every device of the account fetched it", async () => {
    const pair = await linkedPair();
    const second = await linkBrowser(pair.phone);
    const sent = await browserClient(pair).upload(knownFile(2000, "photo").file);
    const stub = env.MEDIA_BLOBS.getByName(pair.phone.identity.number);
    const secondLinkId = env.PAIRING_SESSION.idFromName(second.sessionId).toString();
    expect(await stub.pendingDevices(sent.blobId)).toEqual(["phone", secondLinkId].sort());

    const phone = phoneClient(pair.phone);
    await phone.download(sent);
    expect(await phone.fetched(sent.blobId)).toEqual({ deleted: false });
    expect(await env.MEDIA.head(objectKey(sent.blobId))).not.toBeNull();
    // The uploader's own word counts for nothing: it was never waited for.
    expect(await browserClient(pair).fetched(sent.blobId)).toEqual({ deleted: false });
    expect(await stub.fetched(sent.blobId, secondLinkId)).toEqual({ ok: true, value: { deleted: true } });

    expect(await env.MEDIA.head(objectKey(sent.blobId))).toBeNull();
    expect((await refusal(phone.download(sent))).status).toBe(403);
  });

  it("a blob not fetched by every device is deleted after 14 days (driven clock, the object's alarm)", async () => {
    const start = clock.start();
    const pair = await linkedPair();
    const sent = await browserClient(pair).upload(knownFile(2000).file);
    const stub = env.MEDIA_BLOBS.getByName(pair.phone.identity.number);
    const unfinished = await startOnly(phoneClient(pair.phone), knownFile(2000).file);
    clock.set(start + 14 * DAY_MS - 1);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await env.MEDIA.head(objectKey(sent.blobId))).not.toBeNull();

    clock.set(start + 14 * DAY_MS + 60_000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await env.MEDIA.head(objectKey(sent.blobId))).toBeNull();
    expect(await env.MEDIA.head(objectKey(unfinished.blobId))).toBeNull();
    expect(await stub.pendingDevices(sent.blobId)).toEqual([]);
  });
});
