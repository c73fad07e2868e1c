// The one-time link code a browser shows when the phone cannot scan its QR
// code: 8 characters from an alphabet without look-alikes (no 0/O, no 1/I),
// shown as XXXX-XXXX. It is made in the browser and never sent anywhere: the
// phone's user types it, and both sides feed it to the PAKE (cpace.ts).

/** 32 characters, 5 bits each: an 8-character code carries 40 bits. */
export const LINK_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
export const LINK_CODE_LENGTH = 8;
/**
 * Wrong tries a browser accepts for one code, whatever the server says: the
 * server ends the session sooner (CODE_TRIES, 3 by default), and a server
 * that would not still gets no more guesses than this.
 */
export const LINK_CODE_TRIES = 3;

/** A fresh code from the platform's CSPRNG: each byte's low 5 bits pick a character (256 is a multiple of 32, so no bias). */
export function generateLinkCode(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(LINK_CODE_LENGTH)), (byte) => LINK_CODE_ALPHABET[byte & 31]).join("");
}

/** As shown and typed: two groups of four, "ABCD-EF23". */
export function formatLinkCode(code: string): string {
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

/**
 * The code as typed, in its one canonical form (upper case, no spaces or
 * dashes), or null when it is not 8 characters of the alphabet.
 */
export function parseLinkCode(typed: string): string | null {
  const code = typed.replace(/[\s-]/g, "").toUpperCase();
  if (code.length !== LINK_CODE_LENGTH) return null;
  return [...code].every((char) => LINK_CODE_ALPHABET.includes(char)) ? code : null;
}
