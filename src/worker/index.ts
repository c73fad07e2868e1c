// The Worker: routes, input validation and nothing stateful. Static files in
// public/ are served by the assets binding before this code runs.
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { placeOf } from "./device-context";
import {
  bodyLimits,
  byAccount,
  byAddress,
  byClaimedNumber,
  errorResponse,
  forwardUpgrade,
  jsonBody,
  jsonParam,
  outcomeResponse,
  rateLimit,
  sameOriginUpgrade,
  securityHeaders,
  upgradeOnly,
  type AppEnv,
} from "./http";
import { phoneSignature, signedByPhone } from "./signed-phone";
import { codeRoutes, openSession } from "./code-routes";
import { blobRoutes } from "./blobs/routes";
import { RATE_LIMITS } from "./rate-limit";
import { PHONE_NUMBER_HEADER } from "./forwarded-headers";
import {
  confirmRequestSchema,
  inspectRequestSchema,
  LINK_PATH,
  linkIdSchema,
  registerRequestSchema,
  rejectRequestSchema,
  revokeRequestSchema,
  rotateKeyRequestSchema,
  sessionIdSchema,
} from "../shared/protocol";

export { Account } from "./account/account";
export { PairingSession } from "./pairing-session/pairing-session";
export { MediaBlobs } from "./blobs/media-blobs";

const app = new Hono<AppEnv>();

// Every JSON reply carries nosniff and a CSP; no request body is read past its limit.
app.use("*", securityHeaders, bodyLimits);

/**
 * Every route that reaches an object counts its request per address before
 * any object is touched, and a signed one per account too, once the
 * signature verified (rate-limit.ts has the numbers).
 */
const perAddress = (rule: (typeof RATE_LIMITS)[keyof typeof RATE_LIMITS]) => rateLimit(rule, byAddress);
const perAccount = (rule: (typeof RATE_LIMITS)[keyof typeof RATE_LIMITS]) => rateLimit(rule, byAccount);

/** The browser opens a new pairing session. */
app.get("/api/sessions/connect", sameOriginUpgrade, perAddress(RATE_LIMITS.sessionsPerIp), (c) => openSession(c, "open"));

/**
 * A linked browser comes back (after a reload): the session challenges its
 * device key. Addressed by the link id the browser was given in `linked`,
 * which no QR code showed.
 */
app.get(
  "/api/links/:linkId/browser",
  sameOriginUpgrade,
  jsonParam("linkId", linkIdSchema),
  perAddress(RATE_LIMITS.resumesPerIp),
  (c) => forwardUpgrade(c, { linkId: c.req.param("linkId") }, "resume", {}),
);

/** The linked phone's relay socket, signed like every phone request, at the link id the confirm answered with. */
app.get(
  "/api/links/:linkId/phone",
  upgradeOnly,
  jsonParam("linkId", linkIdSchema),
  perAddress(RATE_LIMITS.phoneRequestsPerIp),
  signedByPhone,
  perAccount(RATE_LIMITS.phoneRequestsPerNumber),
  (c) => forwardUpgrade(c, { linkId: c.req.param("linkId") }, "phone", { [PHONE_NUMBER_HEADER]: c.var.account.number }),
);

/**
 * The same two sockets at the session id, for links made before link ids
 * existed (links last 30 days and survive a deploy). A session that handed
 * out a link id refuses them (4404), so the id in its QR codes reaches no
 * relay.
 */
app.get(
  "/api/sessions/:sessionId/browser",
  sameOriginUpgrade,
  jsonParam("sessionId", sessionIdSchema),
  perAddress(RATE_LIMITS.resumesPerIp),
  (c) => forwardUpgrade(c, { sessionId: c.req.param("sessionId") }, "resume", {}),
);

app.get(
  "/api/sessions/:sessionId/phone",
  upgradeOnly,
  jsonParam("sessionId", sessionIdSchema),
  perAddress(RATE_LIMITS.phoneRequestsPerIp),
  signedByPhone,
  perAccount(RATE_LIMITS.phoneRequestsPerNumber),
  (c) => forwardUpgrade(c, { sessionId: c.req.param("sessionId") }, "phone", { [PHONE_NUMBER_HEADER]: c.var.account.number }),
);

/** A phone registers its number with its identity key; the request is signed by that key. */
app.post(
  "/api/accounts",
  perAddress(RATE_LIMITS.registrationsPerIp),
  rateLimit(RATE_LIMITS.registrationsPerNumber, byClaimedNumber),
  phoneSignature,
  jsonBody(registerRequestSchema),
  async (c) => {
    const body = c.req.valid("json");
    const signed = c.var.signed;
    if (signed.number !== body.number) {
      return errorResponse(c, "missing_signature", "registration is signed with the key being registered, for the number in the body");
    }
    return outcomeResponse(c, await c.env.ACCOUNT.getByName(body.number).register(body, signed));
  },
);

/**
 * The phone moves its account to a new key: signed by the current key, the
 * body carries the new key and its proof of possession. The old key stops
 * working at once.
 */
app.post(
  "/api/accounts/rotate-key",
  perAddress(RATE_LIMITS.phoneRequestsPerIp),
  signedByPhone,
  perAccount(RATE_LIMITS.phoneRequestsPerNumber),
  jsonBody(rotateKeyRequestSchema),
  async (c) => {
    const { publicKey, proof } = c.req.valid("json");
    const { host, timestamp } = c.var.signed;
    const account = c.env.ACCOUNT.getByName(c.var.account.number);
    return outcomeResponse(c, await account.rotateKey({ host, oldPublicKey: c.var.accountKey, newPublicKey: publicKey, timestamp, proof }));
  },
);

/**
 * The phone scanned a QR: spend the token, learn what is asking to be linked.
 * Scans are counted per address before the signature is checked, and per
 * account after, so neither a crowd of numbers nor one account can spray codes.
 */
app.post(
  "/api/link/inspect",
  perAddress(RATE_LIMITS.scansPerIp),
  signedByPhone,
  perAccount(RATE_LIMITS.scansPerNumber),
  jsonBody(inspectRequestSchema),
  async (c) => {
    const { sessionId, token, phonePublicKey } = c.req.valid("json");
    const phonePlace = placeOf(c.req.raw);
    return outcomeResponse(c, await c.env.PAIRING_SESSION.getByName(sessionId).inspect(token, c.var.account.number, phonePlace, phonePublicKey));
  },
);

app.post(
  "/api/link/confirm",
  perAddress(RATE_LIMITS.phoneRequestsPerIp),
  signedByPhone,
  perAccount(RATE_LIMITS.phoneRequestsPerNumber),
  jsonBody(confirmRequestSchema),
  async (c) => {
    const { sessionId, phonePublicKey, confirmation } = c.req.valid("json");
    return outcomeResponse(c, await c.env.PAIRING_SESSION.getByName(sessionId).confirm(c.var.account, phonePublicKey, confirmation));
  },
);

app.post(
  "/api/link/reject",
  perAddress(RATE_LIMITS.phoneRequestsPerIp),
  signedByPhone,
  perAccount(RATE_LIMITS.phoneRequestsPerNumber),
  jsonBody(rejectRequestSchema),
  async (c) => {
    const { sessionId, reason } = c.req.valid("json");
    return outcomeResponse(c, await c.env.PAIRING_SESSION.getByName(sessionId).reject(c.var.account.number, reason));
  },
);

/** The phone's "Linked devices": the browsers linked to its account. */
app.get("/api/devices", perAddress(RATE_LIMITS.phoneRequestsPerIp), signedByPhone, perAccount(RATE_LIMITS.phoneRequestsPerNumber), async (c) =>
  c.json(await c.env.ACCOUNT.getByName(c.var.account.number).devices()),
);

/** The phone logs one of its browsers out. */
app.post(
  "/api/devices/revoke",
  perAddress(RATE_LIMITS.phoneRequestsPerIp),
  signedByPhone,
  perAccount(RATE_LIMITS.phoneRequestsPerNumber),
  jsonBody(revokeRequestSchema),
  async (c) => {
    const { sessionId } = c.req.valid("json");
    return outcomeResponse(c, await c.env.ACCOUNT.getByName(c.var.account.number).revokeDevice(sessionId));
  },
);

codeRoutes(app);
blobRoutes(app);

/** A QR code opened by a phone's camera app lands on the phone page, which reads the code from the fragment. */
app.get(LINK_PATH, (c) => c.env.ASSETS.fetch(new URL("/phone", c.req.url)));

app.notFound((c) => errorResponse(c, "not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`));

app.onError((err, c) => {
  // Hono's JSON validator throws a 400 HTTPException for a body that does not parse.
  if (err instanceof HTTPException && err.status === 400) return errorResponse(c, "bad_json", "the body is not valid JSON");
  console.error("unhandled error", err);
  return errorResponse(c, "internal", "something went wrong on the server");
});

export default app satisfies ExportedHandler<Env>;
