// An account's linked browsers, and the steps that reach across to their
// PairingSessions. The invariant both objects keep: no device row without a
// linked (or confirming) session, and no linked session without a device
// row. So the Account ends a session first and drops the row only once the
// session answered; if it did not, the row stays and the step is retried.
// A session that ends by itself calls Account.removeDevice.
import { MAX_LINKED_DEVICES, type LinkedDevice } from "../../shared/protocol";
import { failure, success, type Outcome } from "../outcome";
import type { AccountStore } from "./store";

export type LinkEndReason = "revoked" | "inactive";

/** The PairingSessions, as the Account needs them. `endLink` is idempotent on their side. */
export interface LinkedSessions {
  endLink(sessionId: string, reason: LinkEndReason): Promise<void>;
}

const NO_ACCOUNT = "no account is registered with this number";

/** A browser is being linked; refused past the limit so the user logs a device out first. */
export function addDevice(store: AccountStore, device: LinkedDevice): Outcome<null> {
  if (!store.account()) return failure("unknown_account", NO_ACCOUNT);
  if (store.countOtherDevices(device.id) >= MAX_LINKED_DEVICES) {
    return failure(
      "device_limit",
      `this account already has ${MAX_LINKED_DEVICES} linked devices, the most it can have; log one out first (npm run phone -- devices, then revoke <id>)`,
    );
  }
  store.putDevice(device);
  return success(null);
}

/** The phone logs a browser out: its session ends as `revoked`, then it leaves the list. */
export async function revokeDevice(store: AccountStore, sessions: LinkedSessions, sessionId: string): Promise<Outcome<null>> {
  if (!store.account()) return failure("unknown_account", NO_ACCOUNT);
  if (!store.hasDevice(sessionId)) return failure("unknown_device", "this account has no linked device with that id");
  if (!(await endThenRemove(store, sessions, sessionId, "revoked"))) {
    return failure("unavailable", "the device's session did not answer; it is still linked, revoke it again");
  }
  return success(null);
}

/** Ends every linked browser; returns the ids whose session did not answer, whose rows are kept for a retry. */
export async function endAllDevices(store: AccountStore, sessions: LinkedSessions, reason: LinkEndReason): Promise<string[]> {
  const ended = await Promise.all(store.devices().map(async (device) => ((await endThenRemove(store, sessions, device.id, reason)) ? null : device.id)));
  return ended.filter((id): id is string => id !== null);
}

/** False when the session did not answer: the row stays, so the link is neither lost nor left without one. */
async function endThenRemove(store: AccountStore, sessions: LinkedSessions, sessionId: string, reason: LinkEndReason): Promise<boolean> {
  try {
    await sessions.endLink(sessionId, reason);
  } catch (error) {
    console.error(`endLink(${reason}) failed; the device row is kept for a retry`, error);
    return false;
  }
  // Usually gone already: the session's end calls removeDevice. Removing again is harmless.
  store.deleteDevice(sessionId);
  return true;
}
