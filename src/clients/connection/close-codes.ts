// What each close code means to each kind of client: stop for good (with
// what to tell the user), or reconnect. Any code not listed for a role, 1006
// (the network), 1011 (internal_error) and 4408 (heartbeat_timeout) included,
// reconnects.
import { CLOSE_CODES, type EndReason } from "../../shared/protocol";

/** `pairing`: the browser's QR screen; `browser`: a linked browser's relay; `phone`: the phone's relay. */
export type Role = "pairing" | "browser" | "phone";
export type CloseReason = keyof typeof CLOSE_CODES;

export interface Ending {
  reason: CloseReason;
  /** What the user is told. */
  notice: string;
}

export type CloseMeaning = { final: false } | ({ final: true } & Ending);

const FINAL_CLOSES: Record<Role, Partial<Record<CloseReason, string>>> = {
  pairing: {
    expired: "This code expired.",
    rejected: "The link was rejected on the phone. Here is a fresh code.",
    key_mismatch: "The phone's answer did not match this code, so nothing was linked. Scan a fresh code to try again.",
    too_many_attempts: "It was scanned wrongly too many times. Get a new one when you are ready to link.",
    wrong_number: "The phone picked a number that is not the one this screen showed, so nothing was linked. Get a new code to try again.",
  },
  browser: {
    unknown_session: "This browser is no longer linked.",
    resume_refused: "This browser could not prove its link, so it was logged out.",
    logged_out: "You logged out.",
    revoked: "This browser was logged out from your phone.",
    inactive: "Logged out after a long time without use.",
    // The link stays: only this tab stops, so two tabs do not take it from each other for ever.
    replaced: "QR Link is open in another window. Reload to use it here.",
  },
  phone: {
    unknown_session: "This link is gone: the browser was logged out.",
    logged_out: "The browser logged out.",
    key_mismatch: "The browser refused this phone's key.",
    revoked: "You logged this browser out.",
    inactive: "The link ended after a long time without use.",
    // The link stays with the phone that took it; this one stops, so two phones do not replace each other for ever.
    replaced: "Another phone took over this link.",
  },
};

const REASON_OF_CODE = new Map<number, CloseReason>(Object.entries(CLOSE_CODES).map(([reason, code]) => [code, reason as CloseReason]));

export function closeMeaning(role: Role, code: number): CloseMeaning {
  const reason = REASON_OF_CODE.get(code);
  const notice = reason && FINAL_CLOSES[role][reason];
  return reason && notice ? { final: true, reason, notice } : { final: false };
}

/** The server said the session ended (an `ended` message): final, whatever the reason. */
export function endingOf(role: Role, reason: EndReason): Ending {
  return { reason, notice: FINAL_CLOSES[role][reason] ?? "This link has ended." };
}
