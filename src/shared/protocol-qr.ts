// QR text: <origin>/link#<sessionId>.<token>.<browserPublicKey>.<qrSecret>
// The fragment never reaches a server, so neither the key nor the secret is logged.
// Import from ./protocol.
import { browserPublicKeySchema, qrSecretSchema, sessionIdSchema, tokenSchema } from "./protocol-fields";

export interface QrPayload {
  sessionId: string;
  token: string;
  browserPublicKey: string;
  qrSecret: string;
}

export const LINK_PATH = "/link";

export function formatQrText(origin: string, payload: QrPayload): string {
  return `${origin}${LINK_PATH}#${payload.sessionId}.${payload.token}.${payload.browserPublicKey}.${payload.qrSecret}`;
}

export function parseQrText(text: string): (QrPayload & { origin: string }) | null {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    return null;
  }
  if ((url.protocol !== "https:" && url.protocol !== "http:") || url.pathname !== LINK_PATH) return null;
  const [sessionId, token, browserPublicKey, qrSecret, ...rest] = url.hash.slice(1).split(".");
  if (rest.length > 0) return null;
  const payload = { sessionId, token, browserPublicKey, qrSecret };
  const valid =
    sessionIdSchema.safeParse(sessionId).success &&
    tokenSchema.safeParse(token).success &&
    browserPublicKeySchema.safeParse(browserPublicKey).success &&
    qrSecretSchema.safeParse(qrSecret).success;
  return valid ? { origin: url.origin, ...(payload as QrPayload) } : null;
}
