// Number matching: once a phone has scanned, the browser shows two digits and
// the phone asks the user to pick them among three. Both sides derive the
// digits from the key agreement (the `matching` key of deriveLinkKeys: HKDF
// over the X25519 secret, salted with the qrSecret), over a transcript that
// names both keys. The server knows neither the secret nor the qrSecret, so it
// cannot choose or predict the number; the phone commits its key with
// `inspect` before the browser shows anything, and must confirm with that
// same key. A code or link sent in a message is thus useless on its own: its
// sender cannot tell the victim which of the three to pick.
import type { LinkKeys } from "./crypto";

/** How many digits the browser shows, and how many numbers the phone offers. */
export const MATCHING = { digits: 2, choices: 3 } as const;

const NUMBERS = 10 ** MATCHING.digits;

export interface MatchingTranscript {
  sessionId: string;
  browserPublicKey: string;
  phonePublicKey: string;
}

/** Two digits, "00" to "99". */
export function formatMatchingNumber(value: number): string {
  return String(value).padStart(MATCHING.digits, "0");
}

/** The number both sides show, from the link keys either side derived. */
export async function matchingNumber(keys: LinkKeys, transcript: MatchingTranscript): Promise<string> {
  const text = ["qr-link-v1 number", transcript.sessionId, transcript.browserPublicKey, transcript.phonePublicKey].join("\n");
  const mac = await crypto.subtle.sign("HMAC", keys.matching, new TextEncoder().encode(text));
  // 2^32 mod 100 is 96: the bias toward 00-95 is below one in forty million.
  return formatMatchingNumber(new DataView(mac).getUint32(0) % NUMBERS);
}

/** A uniform integer in [0, bound), by rejection from the platform's CSPRNG. */
function randomBelow(bound: number): number {
  const limit = Math.floor(2 ** 32 / bound) * bound;
  for (;;) {
    const [value = 0] = crypto.getRandomValues(new Uint32Array(1));
    if (value < limit) return value % bound;
  }
}

/** The right number and two distinct decoys, in random order. */
export function numberChoices(right: string, random: (bound: number) => number = randomBelow): string[] {
  const choices = new Set([right]);
  while (choices.size < MATCHING.choices) choices.add(formatMatchingNumber(random(NUMBERS)));
  const shuffled = [...choices];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = random(i + 1);
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }
  return shuffled;
}
