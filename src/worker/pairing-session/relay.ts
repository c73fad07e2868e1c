// The relay on the session's sockets: a socket that starts is told where the
// relay stands and sent what it has not acknowledged; frames are stored, then
// acknowledged to their sender and forwarded in order; acks free them.
import { LIMITS, type Direction } from "../../shared/protocol";
import type { SessionParts } from "./parts";
import { acknowledge, receive, unacknowledged } from "./relay-buffer";
import { send, type Role } from "./sockets";
import type { LinkedSession } from "./session";

/** Which way a frame from this role travels, and which way the frames it receives travel. */
export const OUTBOUND: Record<Role, Direction> = { browser: "to_phone", phone: "to_browser" };
export const INBOUND: Record<Role, Direction> = { browser: "to_browser", phone: "to_phone" };
const RECEIVER: Record<Direction, Role> = { to_browser: "browser", to_phone: "phone" };
const SENDER: Record<Direction, Role> = { to_browser: "phone", to_phone: "browser" };

const BUFFER_LIMITS = { frames: LIMITS.bufferFrames, bytes: LIMITS.bufferBytes, frameBytes: LIMITS.relayMessageBytes };

export class Relay {
  constructor(private readonly parts: SessionParts) {}

  presence() {
    return this.parts.sockets.of("phone").length > 0 ? ("online" as const) : ("offline" as const);
  }

  /** Tells the socket where the relay stands, then sends it every frame it has not acknowledged, in order. */
  start(ws: WebSocket, session: LinkedSession, role: Role): void {
    const outbound = this.parts.frames.cursor(OUTBOUND[role]);
    send(ws, {
      type: "ready",
      sessionId: session.sessionId,
      account: session.proof.account,
      received: outbound.received,
      delivered: outbound.delivered,
      phone: this.presence(),
      presenceCheckMs: this.parts.config.phoneOfflineMs,
    });
    for (const frame of unacknowledged(this.parts.frames, INBOUND[role])) send(ws, { type: "frame", seq: frame.seq, data: frame.data });
  }

  frame(ws: WebSocket, session: LinkedSession, role: Role, seq: number, data: string): void {
    const direction = OUTBOUND[role];
    const receipt = receive(this.parts.frames, direction, { seq, data }, BUFFER_LIMITS);
    switch (receipt.kind) {
      case "repeat":
        return send(ws, { type: "stored", seq: receipt.stored });
      case "held":
        return;
      case "refused":
        return send(
          ws,
          receipt.code === "out_of_order"
            ? { type: "error", code: "out_of_order", message: `expected frame ${receipt.expected}, got ${seq}`, expected: receipt.expected }
            : { type: "error", code: "buffer_full", message: `the other side is away and ${receipt.waiting} frames are waiting; try again later` },
        );
      case "stored":
        send(ws, { type: "stored", seq: receipt.stored });
        for (const receiver of this.readySockets(RECEIVER[direction], session)) {
          for (const frame of receipt.forward) send(receiver, { type: "frame", seq: frame.seq, data: frame.data });
        }
    }
  }

  /** The receiver has processed everything up to `seq`: the sender is told it was delivered. */
  ack(session: LinkedSession, role: Role, seq: number): void {
    const direction = INBOUND[role];
    if (!acknowledge(this.parts.frames, direction, seq)) return;
    for (const socket of this.readySockets(SENDER[direction], session)) send(socket, { type: "delivered", seq });
  }

  /** Sockets the relay may send frames to: the phone, or a verified browser that has registered its device key. */
  private readySockets(role: Role, session: LinkedSession): WebSocket[] {
    if (role === "phone") return this.parts.sockets.of("phone");
    return session.devicePublicKey ? this.parts.sockets.verifiedBrowsers() : [];
  }
}
