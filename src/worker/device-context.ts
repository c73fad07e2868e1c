// What the phone is shown about a browser asking to be linked, read from the
// browser's WebSocket upgrade request, and where a request comes from. The
// User-Agent is the browser's own claim: only names bowser knows get through,
// so a crafted one cannot put words on the phone's confirm screen.
import Bowser from "bowser";
import type { Description } from "./pairing-session/session";
import { ipv4Of, ipv6Groups } from "./ip-address";

export const UNKNOWN_PLACE = "unknown";
export const UNKNOWN_BROWSER = "Unknown browser";
export const UNKNOWN_OS = "unknown OS";
/** The longest device description ("<browser> <version> on <os>"), whatever the User-Agent says. */
export const DEVICE_NAME_LENGTH = 64;
/** Bowser reads at most this much of a User-Agent; real ones are a few hundred characters. */
const USER_AGENT_READ = 512;

/** Bowser's names, except its "Generic" fallback, which echoes the User-Agent's first word. */
const KNOWN_BROWSERS = new Set(Object.values(Bowser.BROWSER_MAP).filter((name) => name !== Bowser.BROWSER_MAP.generic));
const KNOWN_OS = new Set(Object.values(Bowser.OS_MAP));

/** Where a request comes from, as Cloudflare places it; both null for a local or unplaced address. */
export interface Place {
  country: string | null;
  region: string | null;
  /** What the phone shows: "Lisbon, PT", or "unknown". */
  label: string;
}

/**
 * Keeps the first part of an address: "203.0.113.x" (also for IPv4 written
 * as IPv6, ::ffff:203.0.113.7), or the /48 of IPv6 ("2001:db8:0::/48").
 */
export function ipPrefix(ip: string | null): string {
  if (!ip) return "unknown";
  const ipv4 = ipv4Of(ip);
  if (ipv4 === null) return `${ipv6Groups(ip).slice(0, 3).join(":")}::/48`;
  const parts = ipv4.split(".");
  return parts.length === 4 ? `${parts.slice(0, 3).join(".")}.x` : "unknown";
}

/** Local runs report a made-up place for loopback connections; an address that is not public has no place. */
function isLocalAddress(ip: string | null): boolean {
  return !ip || /^(127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|::1$|f[cd]|fe80:)/i.test(ip);
}

/** A short single-line value from Cloudflare's request metadata, or null. */
function field(value: unknown): string | null {
  if (typeof value !== "string") return null;
  const text = value.replace(/\p{Cc}/gu, "").trim().slice(0, 40);
  return text || null;
}

/** Where the request comes from: country and region compared, the city shown too. */
export function placeOf(request: Request): Place {
  const cf = request.cf as { city?: unknown; region?: unknown; country?: unknown } | undefined;
  if (isLocalAddress(request.headers.get("cf-connecting-ip"))) return { country: null, region: null, label: UNKNOWN_PLACE };
  const [city, region, country] = [field(cf?.city), field(cf?.region), field(cf?.country)];
  if (!country) return { country: null, region: null, label: UNKNOWN_PLACE };
  const label = [...new Set([city, region].filter((part): part is string => part !== null)), country].join(", ");
  return { country, region, label };
}

/**
 * Whether the browser and the phone are in the same place: a different
 * country, or a different region where both are known, is a mismatch; a
 * place that is not known on either side cannot be compared, and says so.
 */
export function comparePlaces(browser: Pick<Place, "country" | "region"> | undefined, phone: Pick<Place, "country" | "region">): { placeMismatch: boolean; placeUnknown: boolean } {
  if (!browser?.country || !phone.country) return { placeMismatch: false, placeUnknown: true };
  const regionDiffers = browser.region !== null && phone.region !== null && browser.region !== phone.region;
  return { placeMismatch: browser.country !== phone.country || regionDiffers, placeUnknown: false };
}

/** The browser's side of the context; the session adds when its QR was made and how the places compare. */
export function describeDevice(request: Request): Description {
  const userAgent = request.headers.get("user-agent")?.slice(0, USER_AGENT_READ);
  const parsed: Partial<Bowser.Parser.ParsedResult> = userAgent ? Bowser.parse(userAgent) : {};
  const name = parsed.browser?.name;
  const known = name !== undefined && KNOWN_BROWSERS.has(name);
  // Only a plain major version: "156", never whatever else the header carried.
  const version = known ? /^\d{1,4}(?=\.|$)/.exec(parsed.browser?.version ?? "")?.[0] : undefined;
  const os = parsed.os?.name !== undefined && KNOWN_OS.has(parsed.os.name) ? parsed.os.name : UNKNOWN_OS;
  const browser = known ? [name, version].filter(Boolean).join(" ") : UNKNOWN_BROWSER;
  const place = placeOf(request);
  return {
    // Capped as a whole ("<browser> on <os>"), though every allowed name fits.
    browser: browser.slice(0, DEVICE_NAME_LENGTH - " on ".length - os.length),
    os,
    place: place.label,
    ipPrefix: ipPrefix(request.headers.get("cf-connecting-ip")),
    where: { country: place.country, region: place.region },
  };
}
