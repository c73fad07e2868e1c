// The routes of linking with a code (see pairing-session/code.ts): a browser
// opens a code session, and the number's phone finds it and tries its code.
// Registered by index.ts beside the QR routes, with the same middleware.
import type { Context, Hono } from "hono";
import { randomBase64url } from "../shared/crypto";
import { codeFindRequestSchema, codeTryRequestSchema } from "../shared/protocol";
import { describeDevice, placeOf } from "./device-context";
import { DEVICE_HEADER, SESSION_ID_HEADER, type SocketKind } from "./forwarded-headers";
import { byAccount, byAddress, errorResponse, forwardUpgrade, jsonBody, outcomeResponse, rateLimit, sameOriginUpgrade, type AppEnv } from "./http";
import { RATE_LIMITS } from "./rate-limit";
import { signedByPhone } from "./signed-phone";

/** A browser's new session, QR or code, at a fresh random session id. */
export function openSession(c: Context<AppEnv>, kind: Extract<SocketKind, "open" | "open_code">): Promise<Response> | Response {
  const sessionId = randomBase64url(16);
  return forwardUpgrade(c, { sessionId }, kind, {
    [SESSION_ID_HEADER]: sessionId,
    [DEVICE_HEADER]: JSON.stringify(describeDevice(c.req.raw)),
  });
}

export function codeRoutes(app: Hono<AppEnv>): void {
  /** The browser opens a code session ("Link with phone number instead"); it names the number on the socket, never in the URL. */
  app.get("/api/code-sessions/connect", sameOriginUpgrade, rateLimit(RATE_LIMITS.codesPerIp, byAddress), (c) => openSession(c, "open_code"));

  // The phone's code requests count as scans do: per address before the signature is checked, per account after.
  app.use("/api/link/code/*", rateLimit(RATE_LIMITS.scansPerIp, byAddress), signedByPhone, rateLimit(RATE_LIMITS.scansPerNumber, byAccount));

  /** The phone looks for the code waiting for its number (its signature says which): who asks, and the browser's share. */
  app.post("/api/link/code/find", jsonBody(codeFindRequestSchema), async (c) => {
    const number = c.var.account.number;
    const sessionId = await c.env.ACCOUNT.getByName(number).waitingCode();
    if (!sessionId) return errorResponse(c, "session_not_found", "no code is waiting for this number; ask for a new one on the computer");
    return outcomeResponse(c, await c.env.PAIRING_SESSION.getByName(sessionId).codeFind(number, placeOf(c.req.raw)));
  });

  /** The phone tries the code its user typed; answered once the browser checked its confirmation. */
  app.post("/api/link/code/try", jsonBody(codeTryRequestSchema), async (c) => {
    const attempt = c.req.valid("json");
    return outcomeResponse(c, await c.env.PAIRING_SESSION.getByName(attempt.sessionId).codeTry(c.var.account, attempt));
  });
}
