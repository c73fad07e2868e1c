// The media routes: a device of an account starts an upload, streams its
// sealed parts to R2 (multipart, so a cut upload resumes with the parts it
// lacks), completes it; the account's other devices download it (with
// Range, so a cut download resumes) and say when they have it. Bytes are
// streamed between the device and R2, never held whole by the Worker.
import type { Context, Hono } from "hono";
import { BLOB_PART_BYTES } from "../../shared/blob-crypto";
import { BLOBS_PATH, blobIdSchema, createBlobRequestSchema, type BlobLimits } from "../../shared/protocol";
import { API_HEADERS, errorResponse, outcomeResponse, rateLimit, byAddress, type AppEnv } from "../http";
import { RATE_LIMITS, withinRateLimit } from "../rate-limit";
import { mediaConfig } from "./config";
import { blobDevice, PHONE_DEVICE, type BlobDevice } from "./device-auth";
import { objectKey } from "./media-blobs";

/** An upload part's path, whose body may be up to one part long (http.ts bodyLimits). */
export const BLOB_PART_PATH = /^\/api\/blobs\/[A-Za-z0-9_-]{22}\/parts\/\d{1,3}$/;
export const MAX_BLOB_PART_BYTES = BLOB_PART_BYTES;

type BlobContext = Context<AppEnv>;

/** The signed device, counted per account; or the refusal. */
async function device(c: BlobContext, payload: "body" | "unsigned" = "body"): Promise<BlobDevice | Response> {
  const found = await blobDevice(c, payload);
  if (found instanceof Response) return found;
  const rule = RATE_LIMITS.mediaRequestsPerNumber;
  if (!(await withinRateLimit(c.env, rule, found.number))) {
    c.header("retry-after", String(rule.periodSeconds));
    return errorResponse(c, "rate_limited", `too many media requests; at most ${rule.limit} every ${rule.periodSeconds} s, try again later`);
  }
  return found;
}

/** The blob the path names and the signed device asking for it; or the refusal. */
async function blobRequest(c: BlobContext, payload: "body" | "unsigned" = "body"): Promise<(BlobDevice & { blobId: string }) | Response> {
  const blobId = c.req.param("blobId");
  if (!blobId || !blobIdSchema.safeParse(blobId).success) return errorResponse(c, "invalid_input", "blobId: malformed");
  const signed = await device(c, payload);
  return signed instanceof Response ? signed : { ...signed, blobId };
}

const blobsOf = (c: BlobContext, number: string) => c.env.MEDIA_BLOBS.getByName(number);

/** The account's devices besides the uploader: its phone and every linked browser, by link id. */
async function recipientsOf(c: BlobContext, number: string): Promise<string[]> {
  const devices = await c.env.ACCOUNT.getByName(number).devices();
  return [PHONE_DEVICE, ...devices.map((linked) => c.env.PAIRING_SESSION.idFromName(linked.id).toString())];
}

export function blobRoutes(app: Hono<AppEnv>): void {
  const perAddress = rateLimit(RATE_LIMITS.mediaRequestsPerIp, byAddress);

  /** The largest photo and file, so a device can refuse one before anything is sent. */
  app.get(`${BLOBS_PATH}/limits`, (c) => {
    const { photoBytes, fileBytes } = mediaConfig(c.env);
    return c.json({ photoBytes, fileBytes } satisfies BlobLimits);
  });

  /** Starts an upload: refused over the kind's limit, before any byte is sent. */
  app.post(BLOBS_PATH, perAddress, async (c) => {
    const signed = await device(c);
    if (signed instanceof Response) return signed;
    let json: unknown;
    try {
      json = await c.req.json();
    } catch {
      return errorResponse(c, "bad_json", "the body is not valid JSON");
    }
    const body = createBlobRequestSchema.safeParse(json);
    if (!body.success) return errorResponse(c, "invalid_input", `${body.error.issues[0]?.path.join(".") || "body"}: ${body.error.issues[0]?.message}`);
    const recipients = await recipientsOf(c, signed.number);
    return outcomeResponse(c, await blobsOf(c, signed.number).create(body.data.kind, body.data.size, signed.device, recipients));
  });

  /** Where an upload stands: which parts are stored, so a cut upload sends only the rest. */
  app.get(`${BLOBS_PATH}/:blobId/upload`, perAddress, async (c) => {
    const signed = await blobRequest(c);
    if (signed instanceof Response) return signed;
    const { blobId } = signed;
    return outcomeResponse(c, await blobsOf(c, signed.number).state(blobId));
  });

  /** One sealed part, streamed to R2 as it arrives; its length must be exactly the part's. */
  app.put(`${BLOBS_PATH}/:blobId/parts/:part`, perAddress, async (c) => {
    const signed = await blobRequest(c, "unsigned");
    if (signed instanceof Response) return signed;
    const { blobId } = signed;
    const part = Number(c.req.param("part"));
    const blobs = blobsOf(c, signed.number);
    const target = await blobs.partTarget(blobId, signed.device, part);
    if (!target.ok) return outcomeResponse(c, target);
    const { key, uploadId, bytes } = target.value;
    const body = c.req.raw.body;
    if (Number(c.req.header("content-length")) !== bytes || !body) {
      return errorResponse(c, "invalid_input", `part ${part} is exactly ${bytes} bytes, sent with its Content-Length`);
    }
    // A stream of known length, so R2 takes it without the Worker holding the part.
    const fixed = new FixedLengthStream(bytes);
    // Both awaited together: a sender that stops half way fails both, and neither is left unhandled.
    const [uploaded] = await Promise.all([c.env.MEDIA.resumeMultipartUpload(key, uploadId).uploadPart(part, fixed.readable), body.pipeTo(fixed.writable)]);
    await blobs.partStored(blobId, part, uploaded.etag);
    return c.json({ part, stored: true });
  });

  app.post(`${BLOBS_PATH}/:blobId/complete`, perAddress, async (c) => {
    const signed = await blobRequest(c);
    if (signed instanceof Response) return signed;
    const { blobId } = signed;
    return outcomeResponse(c, await blobsOf(c, signed.number).complete(blobId, signed.device));
  });

  /** The sealed blob, streamed from R2; a Range (bytes=N-) resumes a cut download. */
  app.get(`${BLOBS_PATH}/:blobId`, perAddress, async (c) => {
    const signed = await blobRequest(c);
    if (signed instanceof Response) return signed;
    const { blobId } = signed;
    const readable = await blobsOf(c, signed.number).readable(blobId);
    if (!readable.ok) return outcomeResponse(c, readable);
    // Only what our clients send to resume: bytes=N- within the blob; anything else is refused as unsatisfiable.
    const range = c.req.header("range");
    const from = range === undefined ? 0 : Number(/^bytes=(\d{1,12})-$/.exec(range)?.[1] ?? Number.NaN);
    if (!Number.isSafeInteger(from)) return c.body(null, 416, { ...API_HEADERS, "content-range": "bytes */*" });
    const object = await c.env.MEDIA.get(objectKey(blobId), range ? { range: { offset: from } } : {}).catch(() => undefined);
    if (object === undefined) return c.body(null, 416, { ...API_HEADERS, "content-range": "bytes */*" });
    if (!object) return errorResponse(c, "forbidden", "this blob is gone");
    // Ciphertext, never to be sniffed, run or cached on the way.
    const headers = new Headers({ ...API_HEADERS, "content-type": "application/octet-stream", "cache-control": "no-store", "accept-ranges": "bytes", etag: object.httpEtag });
    const served = object.range && "offset" in object.range ? { offset: object.range.offset ?? 0, length: object.range.length ?? object.size } : null;
    if (range && served) {
      headers.set("content-range", `bytes ${served.offset}-${served.offset + served.length - 1}/${object.size}`);
      headers.set("content-length", String(served.length));
      return new Response(object.body, { status: 206, headers });
    }
    headers.set("content-length", String(object.size));
    return new Response(object.body, { headers });
  });

  /** The device has the blob, checked and opened: once every device it was meant for has it, it is deleted. */
  app.post(`${BLOBS_PATH}/:blobId/fetched`, perAddress, async (c) => {
    const signed = await blobRequest(c);
    if (signed instanceof Response) return signed;
    const { blobId } = signed;
    return outcomeResponse(c, await blobsOf(c, signed.number).fetched(blobId, signed.device));
  });
}
