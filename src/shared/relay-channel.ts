// The relay as a client sees it, shared by the browser app and the phone:
// seals and numbers outgoing frames, resends what the server has not stored,
// opens incoming frames in order exactly once, and acknowledges them.
import { openFrame, sealFrame, utf8 } from "./crypto";
import { LIMITS, MAX_FRAME_PLAINTEXT_BYTES, type ClientMessage, type Direction, type ServerMessage } from "./protocol";

export interface ChannelState {
  /** The last seq this side sealed. */
  sent: number;
  /** The last seq from the other side that was processed. */
  received: number;
  /** Sealed frames the server has not confirmed; resent as they are, never sealed again (one seq, one frame). */
  unstored: { seq: number; data: string }[];
  /** The other side seals with random nonces (frame version 2): version-1 frames are refused from then on. */
  peerSealsCurrent?: boolean;
}

export function emptyChannelState(): ChannelState {
  return { sent: 0, received: 0, unstored: [] };
}

export interface ChannelKeys {
  send: CryptoKey;
  receive: CryptoKey;
}

export interface ChannelEvents {
  /** A message from the other side, in order and once. It must not wait for `send`, which queues behind it. */
  message(plaintext: string): void | Promise<void>;
  /** The server holds every frame up to `seq`. */
  stored?(seq: number): void;
  /** The other side has every frame up to `seq`. */
  delivered?(seq: number): void;
  /** A frame that does not open: altered, replayed or reordered on the way. */
  tampered?(seq: number): void;
  /** `message` threw: the frame is tried again in HANDLER_RETRY_MS, and nothing after it is processed before it. */
  failed?(error: unknown): void;
  /**
   * The server claimed frames this side never sealed (a `ready`, `stored` or
   * `delivered` above `state.sent`): it lies, or another writer shares this
   * state. The channel has stopped sending and listening; the app closes the socket.
   */
  refused?(reason: string): void;
}

const RETRY_AFTER_FULL_MS = 2_000;
const HANDLER_RETRY_MS = 1_000;

export class RelayChannel {
  private transmit: ((message: ClientMessage) => void) | null = null;
  private ready = false;
  /** The highest seq the other side has acknowledged, as the server last said. */
  private delivered = 0;
  /** The highest seq sent on the current socket. */
  private transmitted = 0;
  private ackScheduled = false;
  /** Frames that came after one whose handling failed, by seq, until it is processed. */
  private readonly waiting = new Map<number, string>();
  private retryScheduled = false;
  private queue: Promise<unknown> = Promise.resolve();
  /** Set once the server claimed frames this side never sealed; nothing it says is trusted after. */
  private refused = false;

  constructor(
    private readonly sessionId: string,
    private readonly outbound: Direction,
    private readonly keys: ChannelKeys,
    readonly state: ChannelState,
    /** Persists the state; called before anything it describes leaves this side. */
    private readonly save: (state: ChannelState) => Promise<void>,
    private readonly events: ChannelEvents,
  ) {}

  /** Frames sealed here that the other side has not acknowledged. */
  get undelivered(): number {
    return this.state.sent - this.delivered;
  }

  private get inbound(): Direction {
    return this.outbound === "to_browser" ? "to_phone" : "to_browser";
  }

  /** A socket is open; nothing is sent on it until the server says `ready`. */
  attach(transmit: (message: ClientMessage) => void): void {
    if (this.refused) return;
    this.transmit = transmit;
    this.ready = false;
  }

  detach(): void {
    this.transmit = null;
    this.ready = false;
    // A new socket gets everything after `received` again.
    this.waiting.clear();
  }

  /**
   * Seals the next frame, persists it, and sends it when the relay is ready;
   * resolves to its seq. `sealed` runs once the frame is sealed, before the
   * save that keeps it: what it records is saved with the frame, never without.
   */
  send(plaintext: string, sealed?: (seq: number) => void): Promise<number> {
    return this.serially(async () => {
      const bytes = utf8(plaintext);
      if (bytes.length > MAX_FRAME_PLAINTEXT_BYTES) throw new RangeError(`a relay frame holds at most ${MAX_FRAME_PLAINTEXT_BYTES} bytes`);
      const seq = this.state.sent + 1;
      const data = await sealFrame(this.keys.send, this.sessionId, this.outbound, seq, bytes);
      this.state.sent = seq;
      this.state.unstored.push({ seq, data });
      sealed?.(seq);
      await this.save(this.state);
      this.pump();
      return seq;
    });
  }

  /** Feeds a message from the server; the relay's own kinds are handled, others ignored. */
  handle(message: ServerMessage): Promise<void> {
    return this.serially(async () => {
      if (this.refused) return;
      const claimed = this.claimedSeq(message);
      if (claimed > this.state.sent) return this.refuse(`the server claims frame ${claimed} from this side, which sealed only ${this.state.sent}`);
      switch (message.type) {
        case "ready":
          this.ready = true;
          this.delivered = message.delivered;
          this.transmitted = message.received;
          await this.dropStored(message.received);
          this.pump();
          if (message.delivered > 0) this.events.delivered?.(message.delivered);
          break;
        case "stored":
          await this.dropStored(message.seq);
          this.events.stored?.(message.seq);
          break;
        case "delivered":
          this.delivered = Math.max(this.delivered, message.seq);
          this.pump();
          this.events.delivered?.(message.seq);
          break;
        case "frame":
          await this.receive(message.seq, message.data);
          break;
        case "error":
          if (message.code === "out_of_order" && message.expected !== undefined) this.resendFrom(message.expected);
          if ((message.code === "buffer_full" || message.code === "rate_limited") && !this.retryScheduled) {
            // Every refused frame of a burst says so; one retry covers them all,
            // and repeats the ack in case the refused message was one.
            this.retryScheduled = true;
            setTimeout(() => {
              this.retryScheduled = false;
              this.resendFrom(this.state.unstored[0]?.seq ?? this.state.sent + 1);
              if (this.state.received > 0) this.transmit?.({ type: "ack", seq: this.state.received });
            }, message.retryAfterMs ?? RETRY_AFTER_FULL_MS);
          }
          break;
      }
    });
  }

  /** The highest seq of this side's that a message says the server or the other side holds. */
  private claimedSeq(message: ServerMessage): number {
    if (message.type === "ready") return Math.max(message.received, message.delivered);
    if (message.type === "stored" || message.type === "delivered") return message.seq;
    return 0;
  }

  /** Drops nothing and reports no tick for a claim above what was sealed: it stops using the socket and tells the app. */
  private refuse(reason: string): void {
    this.refused = true;
    this.detach();
    this.events.refused?.(reason);
  }

  /**
   * Sends what the window allows: at most the server's buffer ahead of what
   * the other side acknowledged, so a fast sender never fills the buffer.
   */
  private pump(): void {
    if (!this.ready) return;
    const limit = this.delivered + LIMITS.bufferFrames;
    for (const frame of this.state.unstored) {
      if (frame.seq <= this.transmitted) continue;
      if (frame.seq > limit) break;
      this.transmit?.({ type: "frame", seq: frame.seq, data: frame.data });
      this.transmitted = frame.seq;
    }
  }

  private resendFrom(seq: number): void {
    if (seq > this.transmitted) return;
    this.transmitted = seq - 1;
    this.pump();
  }

  private async receive(seq: number, data: string): Promise<void> {
    if (seq <= this.state.received) {
      this.transmit?.({ type: "ack", seq: this.state.received });
      return;
    }
    // Ahead of the next: kept until the next is processed (the server sends in order, so this follows a frame whose handling failed).
    if (seq !== this.state.received + 1) {
      if (this.waiting.size < LIMITS.bufferFrames) this.waiting.set(seq, data);
      return;
    }
    const plaintext = await this.open(seq, data);
    if (plaintext === null) {
      this.events.tampered?.(seq);
      return;
    }
    try {
      await this.events.message(plaintext);
    } catch (error) {
      // Not processed, so not acknowledged: tried again in a moment, with what came after it kept meanwhile.
      this.events.failed?.(error);
      this.waiting.set(seq, data);
      setTimeout(() => void this.serially(() => this.receiveWaiting()), HANDLER_RETRY_MS);
      return;
    }
    this.state.received = seq;
    await this.save(this.state);
    this.acknowledgeSoon();
    await this.receiveWaiting();
  }

  /** The kept frames that are next in order. */
  private async receiveWaiting(): Promise<void> {
    const next = this.state.received + 1;
    const data = this.waiting.get(next);
    if (data === undefined) return;
    this.waiting.delete(next);
    await this.receive(next, data);
  }

  /** Opens a frame; version-1 frames only until the other side has sent a version-2 one. */
  private async open(seq: number, data: string): Promise<string | null> {
    const current = await openFrame(this.keys.receive, this.sessionId, this.inbound, seq, data, false);
    if (current !== null) {
      this.state.peerSealsCurrent = true;
      return current;
    }
    return this.state.peerSealsCurrent ? null : openFrame(this.keys.receive, this.sessionId, this.inbound, seq, data);
  }

  /** One ack for a burst: the server writes on every ack, so frames that arrive together are acknowledged together. */
  private acknowledgeSoon(): void {
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    setTimeout(() => {
      this.ackScheduled = false;
      this.transmit?.({ type: "ack", seq: this.state.received });
    }, 0);
  }

  private async dropStored(upTo: number): Promise<void> {
    const before = this.state.unstored.length;
    this.state.unstored = this.state.unstored.filter((frame) => frame.seq > upTo);
    if (this.state.unstored.length !== before) await this.save(this.state);
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work);
    this.queue = result.catch(() => undefined);
    return result;
  }
}
