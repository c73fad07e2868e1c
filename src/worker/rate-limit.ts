// Request rate limits for every route that reaches a Durable Object. Where
// wrangler.toml declares Cloudflare's rate-limiting binding (deployed,
// `wrangler dev`, miniflare) the binding counts; a Worker without it falls
// back to a fixed window in its own isolate with the same numbers, so a limit
// is never silently off.

import { ipv4Of, ipv6Groups } from "./ip-address";

export interface RateLimitRule {
  /** The [[ratelimits]] binding in wrangler.toml; its `simple` limit and period are these numbers. */
  binding:
    | "REGISTRATIONS_PER_IP"
    | "REGISTRATIONS_PER_NUMBER"
    | "SCANS_PER_IP"
    | "SCANS_PER_NUMBER"
    | "SESSIONS_PER_IP"
    | "RESUMES_PER_IP"
    | "PHONE_REQUESTS_PER_IP"
    | "PHONE_REQUESTS_PER_NUMBER"
    | "CODES_PER_IP"
    | "CODES_PER_NUMBER"
    | "MEDIA_REQUESTS_PER_IP"
    | "MEDIA_REQUESTS_PER_NUMBER";
  limit: number;
  periodSeconds: 10 | 60;
}

/**
 * Generous per address, since carrier NAT puts many phones and browsers
 * behind one; tight per number. A QR screen opens a session about every
 * 2 minutes (and every 2 s at worst, while its connection keeps dropping), so
 * 60 sessions a minute is some 120 screens behind one address. A linked
 * browser resumes on a reload and backs off to one try every 10 s while it
 * cannot reconnect. A phone holds one relay socket per linked browser (at
 * most 4), reconnecting with the same back-off, and otherwise makes a few
 * requests a minute.
 */
export const RATE_LIMITS = {
  registrationsPerIp: { binding: "REGISTRATIONS_PER_IP", limit: 20, periodSeconds: 60 },
  registrationsPerNumber: { binding: "REGISTRATIONS_PER_NUMBER", limit: 5, periodSeconds: 60 },
  scansPerIp: { binding: "SCANS_PER_IP", limit: 60, periodSeconds: 60 },
  scansPerNumber: { binding: "SCANS_PER_NUMBER", limit: 20, periodSeconds: 60 },
  /** New pairing sessions (`/api/sessions/connect`). */
  sessionsPerIp: { binding: "SESSIONS_PER_IP", limit: 60, periodSeconds: 60 },
  /** Linked browsers coming back (`/api/links/:linkId/browser`, and `/api/sessions/:id/browser` for links made before link ids). */
  resumesPerIp: { binding: "RESUMES_PER_IP", limit: 60, periodSeconds: 60 },
  /** Every other phone request (confirm, reject, devices, revoke, rotate-key, the relay socket), before the signature is checked… */
  phoneRequestsPerIp: { binding: "PHONE_REQUESTS_PER_IP", limit: 120, periodSeconds: 60 },
  /** …and per account, after. */
  phoneRequestsPerNumber: { binding: "PHONE_REQUESTS_PER_NUMBER", limit: 60, periodSeconds: 60 },
  /** Browsers asking for a link code (`/api/code-sessions/connect`): a person asks for one every few minutes… */
  codesPerIp: { binding: "CODES_PER_IP", limit: 10, periodSeconds: 60 },
  /** …and codes asked for one number, counted when the browser names it, so nobody can keep a number's phone busy with codes. */
  codesPerNumber: { binding: "CODES_PER_NUMBER", limit: 3, periodSeconds: 60 },
  /** Photos and files (`/api/blobs/*`): a 100 MiB file is 21 requests up and 2 down per device, so a few hundred a minute… */
  mediaRequestsPerIp: { binding: "MEDIA_REQUESTS_PER_IP", limit: 600, periodSeconds: 60 },
  /** …per address before the signature is checked, and per account after. */
  mediaRequestsPerNumber: { binding: "MEDIA_REQUESTS_PER_NUMBER", limit: 300, periodSeconds: 60 },
} as const satisfies Record<string, RateLimitRule>;

/** The fallback's counts, per rule: one fixed window at a time, cleared when the next begins. */
const windows = new Map<string, { window: number; counts: Map<string, number> }>();

function countInIsolate(rule: RateLimitRule, key: string): boolean {
  const window = Math.floor(Date.now() / (rule.periodSeconds * 1000));
  let current = windows.get(rule.binding);
  if (current?.window !== window) {
    current = { window, counts: new Map() };
    windows.set(rule.binding, current);
  }
  const count = current.counts.get(key) ?? 0;
  if (count >= rule.limit) return false;
  current.counts.set(key, count + 1);
  return true;
}

/** Cloudflare's rate-limiting binding, as the Worker's Env holds it. */
interface RateLimitBinding {
  limit(options: { key: string }): Promise<{ success: boolean }>;
}

/** Counts one request against `rule` for `key`; false when the key is over its limit. */
export async function withinRateLimit(
  env: Partial<Record<RateLimitRule["binding"], RateLimitBinding>>,
  rule: RateLimitRule,
  key: string,
): Promise<boolean> {
  const binding = env[rule.binding];
  if (binding) return (await binding.limit({ key })).success;
  return countInIsolate(rule, key);
}

/**
 * The key for a client address: IPv4 as it is, IPv6 by its /64, which one
 * subscriber usually holds whole. Cloudflare sets `cf-connecting-ip` on every
 * request from the internet, and `wrangler dev` sets it too; a request
 * without one (a test calling the Worker directly) shares the one key
 * "unknown", so a missing address never means "not counted".
 */
export function addressKey(ip: string | null | undefined): string {
  if (!ip) return "unknown";
  // IPv4, or IPv4 written as IPv6 (::ffff:192.0.2.1): the dotted part is the address.
  const ipv4 = ipv4Of(ip);
  if (ipv4 !== null) return ipv4;
  return `${ipv6Groups(ip).slice(0, 4).join(":")}::/64`;
}
