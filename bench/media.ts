// Photos and files through the Worker and R2: a 10 MiB photo from a linked
// browser to its phone, end to end and step by step, and the workerd
// process's memory while files of growing size go up and down (streamed: it
// must not grow with the file). Browser and phone here are the project's
// BlobClient in this Node process, as chat-media.ts and phone-media.ts drive it.
//
// The download's figure includes Miniflare's R2 simulator, in the same
// process: it joins a multipart object's parts through a JavaScript stream
// that does not wait for the reader, so a reader slower than the disk (the
// phone, opening and hashing as it reads) leaves the rest queued in workerd.
// A single-part object, read as slowly, queues nothing: that is the
// simulator's, not the Worker's, which hands R2's body on untouched.
import { performance } from "node:perf_hooks";
import { BLOB_PART_CHUNKS, importBlobSecret, newBlobSecret, openingStream, partCount, sealPart } from "../src/shared/blob-crypto";
import { BlobClient, deviceSigner, type OutgoingFile } from "../src/shared/blob-transfer";
import { sha256Base64url } from "../src/shared/crypto";
import { linkPair, registeredPhones } from "./clients";
import { round, sleep } from "./relay-load";
import { residentBytes, type Runtime } from "./servers";

const MiB = 1024 * 1024;
const PHOTO_MIB = 10;

/** Random bytes of `size` (getRandomValues gives at most 64 KiB a call). */
function randomFile(size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  for (let offset = 0; offset < size; offset += 65_536) crypto.getRandomValues(bytes.subarray(offset, offset + 65_536));
  return bytes;
}

function fileOf(kind: OutgoingFile["kind"], bytes: Uint8Array<ArrayBuffer>): OutgoingFile {
  return { kind, size: bytes.length, read: async (offset, length) => bytes.slice(offset, offset + length) };
}

const elapsed = async <T>(work: () => Promise<T>): Promise<[T, number]> => {
  const started = performance.now();
  const value = await work();
  return [value, performance.now() - started];
};

/** The client's own work on `bytes` with no server: sealing, hashing, opening. */
async function clientSteps(bytes: Uint8Array<ArrayBuffer>) {
  const blobKey = (await importBlobSecret(newBlobSecret()))!;
  const read = async (offset: number, length: number) => bytes.subarray(offset, offset + length);
  const [parts, encryptMs] = await elapsed(async () => {
    const sealed: Uint8Array<ArrayBuffer>[] = [];
    for (let part = 1; part <= partCount(bytes.length); part++) sealed.push(await sealPart(blobKey, bytes.length, part, read));
    return sealed;
  });
  const [, hashMs] = await elapsed(() => sha256Base64url(bytes));
  const [, decryptMs] = await elapsed(async () => {
    const opened = new Blob(parts).stream().pipeThrough(openingStream(blobKey, bytes.length)).getReader();
    while (!(await opened.read()).done);
  });
  return { encryptMs: round(encryptMs, 1), hashMs: round(hashMs, 1), decryptMs: round(decryptMs, 1) };
}

/** Samples a process's resident memory until stopped; the highest seen. */
function peakResident(pid: number) {
  let peak = residentBytes(pid);
  const timer = setInterval(() => (peak = Math.max(peak, residentBytes(pid))), 10);
  return () => {
    clearInterval(timer);
    return Math.max(peak, residentBytes(pid));
  };
}

/** A client's fetch with its requests' times summed by kind (the parts' overlap: their sum exceeds the wall time they took). */
function timedFetcher() {
  const spans: Record<string, number> = { putPartMs: 0, completeMs: 0, createMs: 0, downloadHeadersMs: 0 };
  const fetcher = async (request: Request) => {
    const started = performance.now();
    const response = await fetch(request);
    const span = request.method === "PUT" ? "putPartMs" : request.url.endsWith("/complete") ? "completeMs" : request.method === "POST" ? "createMs" : "downloadHeadersMs";
    spans[span]! += performance.now() - started;
    return response;
  };
  return { spans, fetcher };
}

/**
 * A `size`-byte file of `kind` from the browser to the phone: upload (seal,
 * hash, parts to R2, complete), then download (fetch, open, verify), then the
 * phone says it has it (the blob is deleted).
 */
async function transfer(runtime: Runtime, link: Awaited<ReturnType<typeof linked>>, kind: OutgoingFile["kind"], bytes: Uint8Array<ArrayBuffer>) {
  const upTimes = timedFetcher();
  const downTimes = timedFetcher();
  const browser = new BlobClient(runtime.url, deviceSigner(runtime.url, link.linkId, link.deviceKey), upTimes.fetcher);
  const phone = new BlobClient(runtime.url, (method, path, bodyHash) => link.phone.signedHeaders(method, path, bodyHash), downTimes.fetcher);
  const baseline = residentBytes(runtime.pid);
  const uploadPeak = peakResident(runtime.pid);
  const [sent, uploadMs] = await elapsed(() => browser.upload(fileOf(kind, bytes)));
  const uploadPeakBytes = uploadPeak();
  const downloadPeak = peakResident(runtime.pid);
  const [received, downloadMs] = await elapsed(() => phone.download(sent));
  const downloadPeakBytes = downloadPeak();
  if (!Buffer.from(received).equals(Buffer.from(bytes))) throw new Error("the phone received other bytes than the browser sent");
  await phone.fetched(sent.blobId);
  return {
    uploadMs: round(uploadMs, 1),
    downloadMs: round(downloadMs, 1),
    totalMs: round(uploadMs + downloadMs, 1),
    upload: Object.fromEntries(Object.entries(upTimes.spans).filter(([key]) => key !== "downloadHeadersMs").map(([key, value]) => [key, round(value, 1)])),
    downloadResponseMs: round(downTimes.spans.downloadHeadersMs!, 1),
    workerdRssMiB: {
      before: round(baseline / MiB, 1),
      uploadGrowth: round((uploadPeakBytes - baseline) / MiB, 1),
      downloadGrowth: round((downloadPeakBytes - baseline) / MiB, 1),
      after: round(residentBytes(runtime.pid) / MiB, 1),
    },
  };
}

async function linked(runtime: Runtime) {
  const [phone] = await registeredPhones(runtime.url, 1);
  const pair = await linkPair(runtime.url, phone!);
  pair.browser.close();
  pair.phone.close();
  return { phone: phone!, linkId: pair.linkId, deviceKey: pair.deviceKey };
}

/**
 * The 10 MiB photo, `reps` times (the median's figures), its client steps
 * alone, and workerd's resident memory for files of `sizesMiB`, smallest first
 * (resident memory, once grown, is kept for reuse).
 */
export async function photoTransfer(runtime: Runtime, options: { reps: number; sizesMiB: number[] }) {
  const link = await linked(runtime);
  const photo = randomFile(PHOTO_MIB * MiB);
  const client = await clientSteps(photo);
  // A first small transfer warms the Worker and R2 up.
  await transfer(runtime, link, "photo", randomFile(MiB));
  const runs = [];
  for (let rep = 0; rep < options.reps; rep++) runs.push(await transfer(runtime, link, "photo", photo));
  runs.sort((a, b) => a.totalMs - b.totalMs);
  const median = runs[Math.floor(runs.length / 2)]!;
  const memory = [];
  for (const sizeMiB of options.sizesMiB) {
    await sleep(200);
    const run = await transfer(runtime, link, "file", randomFile(sizeMiB * MiB));
    memory.push({ sizeMiB, ...run.workerdRssMiB, uploadMs: run.uploadMs, downloadMs: run.downloadMs });
  }
  return {
    method:
      `a ${PHOTO_MIB} MiB photo from a linked browser to its phone (BlobClient in Node: sealed in ${BLOB_PART_CHUNKS}-chunk parts, digest, parts to R2, complete; ` +
      `then download, open, verify), ${options.reps} runs, the median's steps; client steps timed alone on the same file; ` +
      "workerd's resident memory sampled every 10 ms while files of each size go up, then down",
    photoMiB: PHOTO_MIB,
    totalMs: median.totalMs,
    totalsMs: runs.map((run) => run.totalMs),
    uploadMs: median.uploadMs,
    downloadMs: median.downloadMs,
    steps: { ...client, ...median.upload, downloadResponseMs: median.downloadResponseMs },
    workerdMemory: memory,
  };
}
