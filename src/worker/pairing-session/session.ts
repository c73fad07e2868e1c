// The shapes of a session, one per state: what the store reads and the pure
// modules (deadlines) reason about. Types only.
import type { AccountInfo, DeviceContext, EndReason } from "../../shared/protocol";
import type { LiveTokens } from "./tokens";

/**
 * What the browser's upgrade request says of it; the session adds when its QR
 * was made and how the places compare. `where` is what is compared (absent
 * from sessions opened before it existed, which then count as unknown).
 */
export type Description = Omit<DeviceContext, "qrCreatedAt" | "placeMismatch" | "placeUnknown"> & {
  where?: { country: string | null; region: string | null };
};

export interface Opened {
  sessionId: string;
  createdAt: number;
  /** The browser as its upgrade request described it. */
  device: Description;
  /** Present on a code session (linking with a code, no QR): what its browser asked for. */
  code?: CodeRequest;
}

/**
 * A code session's request. The code itself never reaches the server: only
 * the number, the browser's CPace share and its X25519 key. The fields are
 * null until the browser sends its request.
 */
export interface CodeRequest {
  number: string | null;
  browserShare: string | null;
  browserPublicKey: string | null;
  /** Until when the phone may try; before the request, until when the browser may send it. */
  expiresAt: number;
  /** When the browser verified the phone's confirmation for the code tried now; null while none is verified. Confirm waits for it. */
  checkedAt: number | null;
}

/** What the phone sent to confirm: its account, its key-agreement half and its MAC over the transcript. */
export interface LinkProof {
  account: AccountInfo;
  phonePublicKey: string;
  confirmation: string;
}

/** `failedScans` counts wrong scans of a QR session, and wrong codes tried on a code session. */
export type PendingSession = Opened & { state: "pending"; tokens: LiveTokens; failedScans: number };
/** `phonePublicKey`: the X25519 half the phone committed to when it scanned; its confirm must carry the same. */
export type ScannedSession = Opened & { state: "scanned"; scannedBy: string; scannedAt: number; phonePublicKey: string };
/** Written before the Account is asked for a device slot, so a second confirm is refused and a failed call is retried. */
export type ConfirmingSession = Opened & {
  state: "confirming";
  scannedBy: string;
  scannedAt: number;
  proof: LinkProof;
  /** The device slot owed by the Account (an outbox entry kept in the session row): the failed calls so far, and when to call again. */
  addDevice: { attempts: number; dueAt: number };
};
export type LinkedSession = Opened & {
  state: "linked";
  proof: LinkProof;
  /** The browser's resume key; null until the browser checked the MAC and registered it. */
  devicePublicKey: string | null;
  browserActiveAt: number;
  /**
   * Whether both sides were given the link id (sessions linked since link
   * ids exist): then the relay answers only at the link id, never at the
   * session id the QR codes showed. False for links made before.
   */
  linkIdIssued: boolean;
};
/** Kept only while it owes the Account a call; then the storage is deleted. */
export type EndedSession = Opened & {
  state: "ended";
  reason: EndReason;
  /** The removal of the device row the Account may hold for it (an outbox entry kept in the session row), or null when none is owed. */
  removeDevice: { accountNumber: string; attempts: number; dueAt: number } | null;
};
export type Session = PendingSession | ScannedSession | ConfirmingSession | LinkedSession | EndedSession;

export type OutboxKind = "add_device" | "remove_device";
export interface OutboxEntry {
  kind: OutboxKind;
  accountNumber: string;
  attempts: number;
  dueAt: number;
}

