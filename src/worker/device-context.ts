// What the phone is shown about a browser asking to be linked, read from the
// browser's WebSocket upgrade request.
import Bowser from "bowser";
import type { Description } from "./pairing-session/session";

export const UNKNOWN_PLACE = "unknown";

/** Keeps the first part of an address: "203.0.113.x", or the first three groups of IPv6. */
export function ipPrefix(ip: string | null): string {
  if (!ip) return "unknown";
  if (ip.includes(":")) return `${ip.split(":").slice(0, 3).join(":")}::/48`;
  const parts = ip.split(".");
  return parts.length === 4 ? `${parts.slice(0, 3).join(".")}.x` : "unknown";
}

/** The browser's side of the context; the session adds when its QR was made. */
/** Local runs report a made-up place for loopback connections; an address that is not public has no place. */
function isLocalAddress(ip: string | null): boolean {
  return !ip || /^(127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|::1$|f[cd]|fe80:)/i.test(ip);
}


export function describeDevice(request: Request): Description {
  const userAgent = request.headers.get("user-agent");
  const parsed: Partial<Bowser.Parser.ParsedResult> = userAgent ? Bowser.parse(userAgent) : {};
  const ip = request.headers.get("cf-connecting-ip");
  const cf = request.cf as { city?: string; country?: string } | undefined;
  const place = isLocalAddress(ip) ? "" : [cf?.city, cf?.country].filter(Boolean).join(", ");
  const version = parsed.browser?.version?.split(".")[0];
  return {
    browser: [parsed.browser?.name ?? "Unknown browser", version].filter(Boolean).join(" "),
    os: parsed.os?.name ?? "unknown OS",
    place: place || UNKNOWN_PLACE,
    ipPrefix: ipPrefix(ip),
  };
}
