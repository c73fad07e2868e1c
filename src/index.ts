// The Worker: routes, input validation and nothing stateful. Static files in
// public/ are served by the assets binding before this code runs.
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { randomBase64url } from "./crypto";
import { describeDevice } from "./device-context";
import { errorResponse, jsonBody, limitPhoneBody, outcomeResponse, signedByPhone, signedRequestOf, type AppEnv } from "./http";
import { DEVICE_HEADER, SESSION_ID_HEADER } from "./pairing-session";
import { confirmRequestSchema, inspectRequestSchema, registerRequestSchema, rejectRequestSchema, SIGNATURE_HEADERS } from "./protocol";

export { Account } from "./account";
export { PairingSession } from "./pairing-session";

const app = new Hono<AppEnv>();

/** The browser opens a new pairing session. Only pages from this origin may. */
app.get("/api/sessions/connect", async (c) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    return errorResponse(c, "upgrade_required", "this endpoint takes a WebSocket upgrade");
  }
  const origin = c.req.header("origin");
  if (origin !== new URL(c.req.url).origin) {
    return errorResponse(c, "forbidden_origin", "WebSocket connections are accepted only from this site's own pages");
  }
  const sessionId = randomBase64url(16);
  const headers = new Headers(c.req.raw.headers);
  headers.set(SESSION_ID_HEADER, sessionId);
  headers.set(DEVICE_HEADER, JSON.stringify(describeDevice(c.req.raw)));
  return c.env.PAIRING_SESSION.getByName(sessionId).fetch(new Request(c.req.raw, { headers }));
});

/** A phone registers its number with its identity key; the request is signed by that key. */
app.post("/api/accounts", limitPhoneBody, jsonBody(registerRequestSchema), async (c) => {
  const body = c.req.valid("json");
  const signed = await signedRequestOf(c);
  if (!signed || c.req.header(SIGNATURE_HEADERS.number) !== body.number) {
    return errorResponse(c, "missing_signature", "registration is signed with the key being registered, for the number in the body");
  }
  return outcomeResponse(c, await c.env.ACCOUNT.getByName(body.number).register(body, signed));
});

/** The phone scanned a QR: spend the token, learn what is asking to be linked. */
app.post("/api/link/inspect", limitPhoneBody, signedByPhone, jsonBody(inspectRequestSchema), async (c) => {
  const { sessionId, token } = c.req.valid("json");
  return outcomeResponse(c, await c.env.PAIRING_SESSION.getByName(sessionId).inspect(token, c.var.account.number));
});

app.post("/api/link/confirm", limitPhoneBody, signedByPhone, jsonBody(confirmRequestSchema), async (c) => {
  const { sessionId, phonePublicKey, confirmation } = c.req.valid("json");
  return outcomeResponse(c, await c.env.PAIRING_SESSION.getByName(sessionId).confirm(c.var.account, phonePublicKey, confirmation));
});

app.post("/api/link/reject", limitPhoneBody, signedByPhone, jsonBody(rejectRequestSchema), async (c) => {
  const { sessionId } = c.req.valid("json");
  return outcomeResponse(c, await c.env.PAIRING_SESSION.getByName(sessionId).reject(c.var.account.number));
});

app.notFound((c) => errorResponse(c, "not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`));

app.onError((err, c) => {
  // Hono's JSON validator throws a 400 HTTPException for a body that does not parse.
  if (err instanceof HTTPException && err.status === 400) return errorResponse(c, "bad_json", "the body is not valid JSON");
  console.error("unhandled error", err);
  return errorResponse(c, "internal", "something went wrong on the server");
});

export default app satisfies ExportedHandler<Env>;
