// The Worker: routes, input validation and nothing stateful. Static files in
// public/ are served by the assets binding before this code runs.
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { randomBase64url } from "../shared/crypto";
import { describeDevice } from "./device-context";
import {
  byAddress,
  byClaimedNumber,
  errorResponse,
  forwardUpgrade,
  jsonBody,
  jsonParam,
  limitPhoneBody,
  outcomeResponse,
  rateLimit,
  sameOriginUpgrade,
  signedByPhone,
  signedRequestOf,
  upgradeOnly,
  type AppEnv,
} from "./http";
import { RATE_LIMITS } from "./rate-limit";
import { DEVICE_HEADER, PHONE_NUMBER_HEADER, SESSION_ID_HEADER } from "./forwarded-headers";
import {
  confirmRequestSchema,
  inspectRequestSchema,
  LINK_PATH,
  registerRequestSchema,
  rejectRequestSchema,
  revokeRequestSchema,
  sessionIdSchema,
} from "../shared/protocol";

export { Account } from "./account/account";
export { PairingSession } from "./pairing-session/pairing-session";

const app = new Hono<AppEnv>();

/** The browser opens a new pairing session. */
app.get("/api/sessions/connect", sameOriginUpgrade, async (c) => {
  const sessionId = randomBase64url(16);
  return forwardUpgrade(c, sessionId, "open", {
    [SESSION_ID_HEADER]: sessionId,
    [DEVICE_HEADER]: JSON.stringify(describeDevice(c.req.raw)),
  });
});

/** A linked browser comes back (after a reload): the session challenges its device key. */
app.get("/api/sessions/:sessionId/browser", sameOriginUpgrade, jsonParam("sessionId", sessionIdSchema), (c) =>
  forwardUpgrade(c, c.req.param("sessionId"), "resume", {}),
);

/** The linked phone's relay socket, signed like every phone request. */
app.get("/api/sessions/:sessionId/phone", upgradeOnly, jsonParam("sessionId", sessionIdSchema), signedByPhone, (c) =>
  forwardUpgrade(c, c.req.param("sessionId"), "phone", { [PHONE_NUMBER_HEADER]: c.var.account.number }),
);

/** A phone registers its number with its identity key; the request is signed by that key. */
app.post(
  "/api/accounts",
  limitPhoneBody,
  rateLimit(RATE_LIMITS.registrationsPerIp, byAddress),
  rateLimit(RATE_LIMITS.registrationsPerNumber, byClaimedNumber),
  jsonBody(registerRequestSchema),
  async (c) => {
    const body = c.req.valid("json");
    const signed = await signedRequestOf(c);
    if (!signed || signed.number !== body.number) {
      return errorResponse(c, "missing_signature", "registration is signed with the key being registered, for the number in the body");
    }
    return outcomeResponse(c, await c.env.ACCOUNT.getByName(body.number).register(body, signed));
  },
);

/**
 * The phone scanned a QR: spend the token, learn what is asking to be linked.
 * Scans are counted per address before the signature is checked, and per
 * account after, so neither a crowd of numbers nor one account can spray codes.
 */
app.post(
  "/api/link/inspect",
  limitPhoneBody,
  rateLimit(RATE_LIMITS.scansPerIp, byAddress),
  signedByPhone,
  rateLimit(RATE_LIMITS.scansPerNumber, (c) => c.var.account.number),
  jsonBody(inspectRequestSchema),
  async (c) => {
    const { sessionId, token } = c.req.valid("json");
    const phonePlace = describeDevice(c.req.raw).place;
    return outcomeResponse(c, await c.env.PAIRING_SESSION.getByName(sessionId).inspect(token, c.var.account.number, phonePlace));
  },
);

app.post("/api/link/confirm", limitPhoneBody, signedByPhone, jsonBody(confirmRequestSchema), async (c) => {
  const { sessionId, phonePublicKey, confirmation } = c.req.valid("json");
  return outcomeResponse(c, await c.env.PAIRING_SESSION.getByName(sessionId).confirm(c.var.account, phonePublicKey, confirmation));
});

app.post("/api/link/reject", limitPhoneBody, signedByPhone, jsonBody(rejectRequestSchema), async (c) => {
  const { sessionId } = c.req.valid("json");
  return outcomeResponse(c, await c.env.PAIRING_SESSION.getByName(sessionId).reject(c.var.account.number));
});

/** The phone's "Linked devices": the browsers linked to its account. */
app.get("/api/devices", signedByPhone, async (c) => c.json(await c.env.ACCOUNT.getByName(c.var.account.number).devices()));

/** The phone logs one of its browsers out. */
app.post("/api/devices/revoke", limitPhoneBody, signedByPhone, jsonBody(revokeRequestSchema), async (c) => {
  const { sessionId } = c.req.valid("json");
  return outcomeResponse(c, await c.env.ACCOUNT.getByName(c.var.account.number).revokeDevice(sessionId));
});

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
