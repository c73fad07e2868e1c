// Who is asking for a blob: the account's phone, by its identity signature,
// or one of its linked browsers, by its device key, which the link's
// PairingSession checks. Anyone else is refused before any blob is touched.
import type { Context } from "hono";
import { requestTimeInWindow } from "../account/signed-requests";
import { noSiteOriginReason, signedRequestWindowMs, siteOrigin } from "../config";
import { errorResponse, outcomeResponse, type AppEnv } from "../http";
import { readBodyHash, verifiedPhone } from "../signed-phone";
import { DEVICE_HEADERS, linkIdSchema, SIGNATURE_HEADERS, UNSIGNED_PAYLOAD } from "../../shared/protocol";

/** A device of an account: "phone", or a linked browser by its link id. */
export interface BlobDevice {
  number: string;
  device: string;
}

export const PHONE_DEVICE = "phone";

/**
 * The signed device behind a media request, or the refusal. `unsigned`: the
 * signature covers UNSIGNED_PAYLOAD and the body (an upload part) is left
 * unread, to be streamed.
 */
export async function blobDevice(c: Context<AppEnv>, payload: "body" | "unsigned"): Promise<BlobDevice | Response> {
  if (c.req.header(SIGNATURE_HEADERS.signature)) {
    const phone = await verifiedPhone(c, payload);
    return phone instanceof Response ? phone : { number: phone.account.number, device: PHONE_DEVICE };
  }
  const signature = c.req.header(DEVICE_HEADERS.signature);
  const linkId = c.req.header(DEVICE_HEADERS.link);
  const timestamp = c.req.header(DEVICE_HEADERS.timestamp);
  if (!signature || !linkId || !timestamp) {
    return errorResponse(c, "forbidden", "photos and files are only for the devices of their account: sign the request as its phone or as one of its linked browsers");
  }
  if (!linkIdSchema.safeParse(linkId).success) return errorResponse(c, "forbidden", `${DEVICE_HEADERS.link}: not a link id`);
  const inWindow = requestTimeInWindow(timestamp, Date.now(), signedRequestWindowMs(c.env));
  if (!inWindow.ok) return outcomeResponse(c, inWindow);
  const site = siteOrigin(c.env, c.req.url);
  if (!site) return errorResponse(c, "forbidden_origin", noSiteOriginReason(c.env));
  const bodyHash = payload === "unsigned" ? UNSIGNED_PAYLOAD : await readBodyHash(c);
  if (bodyHash instanceof Response) return bodyHash;
  let id: DurableObjectId;
  try {
    id = c.env.PAIRING_SESSION.idFromString(linkId);
  } catch {
    return errorResponse(c, "forbidden", "no linked browser has this link id");
  }
  const url = new URL(c.req.url);
  const parts = { host: new URL(site).host, linkId, method: c.req.method, path: url.pathname + url.search, timestamp, bodyHash };
  const verified = await c.env.PAIRING_SESSION.get(id).verifyDeviceRequest(parts, signature);
  return verified.ok ? { number: verified.value.number, device: linkId } : outcomeResponse(c, verified);
}
