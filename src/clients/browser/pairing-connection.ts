// The connection a linking screen (the QR code, or a code to type) holds to
// its session: messages and the ending are handled one at a time, in the
// order they came, and a dropped connection reconnects to a fresh session.
import { MAX_LINKED_DEVICES, type ServerMessage, type ServerMessageOf } from "../../shared/protocol";
import type { Ending } from "../connection/close-codes";
import { Connection, webSocketUrl } from "../connection/connection";

export interface PairingEvents {
  open?(): void;
  closed?(code: number): void;
  reconnecting(delayMs: number): void;
  message(message: ServerMessage): Promise<void>;
  ended(ending: Ending): void;
}

export function openPairingConnection(path: string, events: PairingEvents): Connection {
  let handled: Promise<void> = Promise.resolve();
  const inTurn = (handle: () => void | Promise<void>) => {
    handled = handled.then(handle).catch((error: unknown) => console.error(`${path}: a message failed`, error));
  };
  return new Connection(
    { role: "pairing", target: () => ({ url: webSocketUrl(path, location.href) }) },
    {
      ...(events.open ? { open: events.open } : {}),
      ...(events.closed ? { closed: events.closed } : {}),
      reconnecting: (delayMs) => events.reconnecting(delayMs),
      message: (message) => inTurn(() => events.message(message)),
      ended: (ending) => inTurn(() => events.ended(ending)),
    },
  );
}

/** What the browser says when the phone's account refused the link. */
export function refusalText({ code }: ServerMessageOf<"refused">): string {
  return code === "device_limit"
    ? `This phone already has ${MAX_LINKED_DEVICES} linked devices. Log one out on the phone to link this one.`
    : "The phone's account could not link this browser, so nothing was linked.";
}
