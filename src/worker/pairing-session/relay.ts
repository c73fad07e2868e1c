// The relay on the session's sockets: a socket that starts is told where the
// relay stands and sent what it has not acknowledged; frames are forwarded in
// order, and acknowledged to their sender once stored; acks free them.
//
// Writes are batched: frames taken and acks received wait in memory
// (frame-store.ts) for up to RELAY_ACK_WAIT_MS (write-timer.ts says when:
// soon after the receiver's ack, which frees frames never written), then go
// in one transaction, and each sender is told `stored` and `delivered` after
// it. "A burst" below is what one such write holds.
// Durable Objects hold every message sent after a storage write until the
// write is durable (the output gate:
// https://developers.cloudflare.com/durable-objects/glossary/ "output gate",
// and https://blog.cloudflare.com/durable-objects-easy-fast-correct-choose-three/),
// so neither runs ahead of the disk. A frame is forwarded as soon as it is in
// order, before it is written: if the object fails before the write, its
// sender was never told `stored` and sends it again, and the receiver drops a
// seq it already has (relay-channel.ts). An ack waits for the burst too, so
// the frame that follows it is forwarded without waiting on its write, and
// frames it frees that were not written yet never are.
import { LIMITS, type Direction } from "../../shared/protocol";
import type { SessionParts } from "./parts";
import { acknowledge, receive, unacknowledged, type Frame } from "./relay-buffer";
import { closeOnError, send, sendFrame, type Role } from "./sockets";
import type { LinkedSession } from "./session";
import { writeDelays, WriteTimer, type WriteDelays } from "./write-timer";

/** Which way a frame from this role travels, and which way the frames it receives travel. */
export const OUTBOUND: Record<Role, Direction> = { browser: "to_phone", phone: "to_browser" };
export const INBOUND: Record<Role, Direction> = { browser: "to_browser", phone: "to_phone" };
const RECEIVER: Record<Direction, Role> = { to_browser: "browser", to_phone: "phone" };
const SENDER: Record<Direction, Role> = { to_browser: "phone", to_phone: "browser" };

const BUFFER_LIMITS = { frames: LIMITS.bufferFrames, bytes: LIMITS.bufferBytes, frameBytes: LIMITS.relayMessageBytes };

export class Relay {
  /** Senders owed a `stored` for frames taken since the last write, with the direction they send in. */
  private readonly owedStored = new Map<WebSocket, Direction>();
  /** Directions whose receiver acknowledged frames since the last write: their senders are owed a `delivered`. */
  private readonly owedDelivered = new Set<Direction>();
  private readonly writeTimer = new WriteTimer(() => this.writeBurst());
  private readonly delays: WriteDelays;

  constructor(private readonly parts: SessionParts) {
    this.delays = writeDelays(parts.config.relayAckWaitMs);
  }

  presence() {
    return this.parts.sockets.of("phone").length > 0 ? ("online" as const) : ("offline" as const);
  }

  /** Tells the socket where the relay stands, then sends it every frame it has not acknowledged, in order. */
  start(ws: WebSocket, session: LinkedSession, role: Role): void {
    // What waits is written now, and the senders it is owed to told, rather than when the timer comes.
    this.writeBurst();
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
    for (const frame of unacknowledged(this.parts.frames, INBOUND[role])) sendFrame(ws, frame);
  }

  /** A frame from `ws`; `text` is the message it came in, forwarded as it is when it is already the frame's exact serialization. */
  frame(ws: WebSocket, session: LinkedSession, role: Role, frame: Frame, text: string): void {
    const { seq } = frame;
    const direction = OUTBOUND[role];
    const receipt = receive(this.parts.frames, direction, frame, BUFFER_LIMITS);
    switch (receipt.kind) {
      case "repeat":
        // It may count frames of this burst not yet written: they are written first.
        this.parts.frames.flush();
        return send(ws, { type: "stored", seq: receipt.stored });
      case "held":
        return this.writeTimer.within(this.delays.held);
      case "refused":
        return send(
          ws,
          receipt.code === "out_of_order"
            ? { type: "error", code: "out_of_order", message: `expected frame ${receipt.expected}, got ${seq}`, expected: receipt.expected }
            : { type: "error", code: "buffer_full", message: `the other side is away and ${receipt.waiting} frames are waiting; try again later` },
        );
      case "stored": {
        const receivers = this.readySockets(RECEIVER[direction], session);
        for (const receiver of receivers) {
          for (const forwarded of receipt.forward) sendFrame(receiver, forwarded, forwarded === frame ? text : undefined);
        }
        this.owedStored.set(ws, direction);
        this.writeTimer.within(receivers.length > 0 ? this.delays.forwarded : this.delays.unforwarded);
      }
    }
  }

  /** Writes the burst in one transaction, then tells each of its senders how far the relay holds their frames and how far they were delivered. */
  private writeBurst(): void {
    const stored = [...this.owedStored];
    const delivered = [...this.owedDelivered];
    this.owedStored.clear();
    this.owedDelivered.clear();
    try {
      // An ended session's storage is about to go; nothing is stored for it.
      const session = this.parts.store.session();
      if (session?.state !== "linked") return;
      // A failed write closes every relay socket (frame-store.ts); a failed read closes those owed a `stored` here.
      this.parts.frames.flush();
      for (const [ws, direction] of stored) send(ws, { type: "stored", seq: this.parts.frames.cursor(direction).received });
      for (const direction of delivered) {
        const seq = this.parts.frames.cursor(direction).delivered;
        for (const socket of this.readySockets(SENDER[direction], session)) send(socket, { type: "delivered", seq });
      }
    } catch (error) {
      for (const [ws] of stored) closeOnError(ws, error);
    }
  }

  /** The receiver has processed everything up to `seq`: freed now, written with the burst, and then the sender is told it was delivered. */
  ack(role: Role, seq: number): void {
    const direction = INBOUND[role];
    if (!acknowledge(this.parts.frames, direction, seq)) return;
    this.owedDelivered.add(direction);
    this.writeTimer.within(this.delays.acked);
  }

  /** Sockets the relay may send frames to: the phone, or a verified browser that has registered its device key. */
  private readySockets(role: Role, session: LinkedSession): readonly WebSocket[] {
    if (role === "phone") return this.parts.sockets.of("phone");
    return session.devicePublicKey ? this.parts.sockets.verifiedBrowsers() : [];
  }
}
