// The linked browser's relay connection: takes over the socket that just
// linked (or opens one), answers the resume challenge with the device key,
// and asks after the phone while the page is visible. Reconnecting,
// heartbeats and what each close means are the Connection's; what travels on
// it is the RelayChannel's; what it means is the ChatScreen's.
import { signResume } from "../../shared/crypto";
import type { Presence, ServerMessage } from "../../shared/protocol";
import type { RelayChannel } from "../../shared/relay-channel";
import type { Ending } from "../connection/close-codes";
import { Connection, webSocketUrl, type ConnectionOptions } from "../connection/connection";
import { ConnectionStatus } from "./connection-status";
import { $ } from "./dom";
import type { StoredLink } from "./link-store";

/** How often to ask after the phone when the server does not say (it says in `ready`). */
const DEFAULT_PRESENCE_CHECK_MS = 15_000;

export interface ChatConnectionEvents {
  /** The relay is open again; `phone` says whether the phone is connected. */
  ready(phone: Presence): void;
  presence(phone: Presence): void;
  /** The link is over (an `ended` message or a final close); the notice says why. */
  ended(notice: string): Promise<void>;
  /** What to show about the phone: null while this computer is not connected (the phone's state is unknown then), or a notice once another tab took the link over (this one stops; the link stays). */
  status(text: string | null): void;
}

export class ChatConnection {
  private connection: Connection | null = null;
  private presenceTimer: ReturnType<typeof setInterval> | undefined;
  /** "Computer not connected", "Reconnecting in N s… Retry now": this computer's side of the link. */
  private readonly linkStatus: ConnectionStatus;
  /** Set once the screen closed this (the link ended, another tab took it, or the server lied). */
  private closed = false;

  constructor(
    private readonly link: StoredLink,
    private readonly channel: RelayChannel,
    private readonly events: ChatConnectionEvents,
  ) {
    document.addEventListener("visibilitychange", this.askPresence);
    window.addEventListener("online", this.reconnectNow);
    this.linkStatus = new ConnectionStatus($("chat-connection"), this.reconnectNow, (connected) => connected || this.events.status(null));
  }

  /**
   * While the page is visible, asks now and then whether the phone is still
   * there: the server looks only when asked, so a link nobody watches costs nothing.
   */
  private checkPresenceEvery(everyMs: number): void {
    clearInterval(this.presenceTimer);
    this.presenceTimer = setInterval(this.askPresence, everyMs);
  }

  /** The network is back: try now rather than wait out the backoff. */
  private readonly reconnectNow = (): void => this.connection?.reconnectNow();

  private readonly askPresence = (): void => {
    if (document.visibilityState === "visible") this.connection?.send({ type: "presence_check" });
  };

  /** Takes over the connection that just linked, or resumes over a new one. */
  start(linking?: Connection): void {
    const options: Omit<ConnectionOptions, "WebSocket"> = { role: "browser", target: () => ({ url: this.url() }) };
    const events = {
      open: () => this.attach(),
      message: (message: ServerMessage) => this.onServerMessage(message),
      closed: (code: number) => {
        this.linkStatus.closed(code);
        this.detach();
      },
      reconnecting: (delayMs: number) => this.linkStatus.reconnecting(delayMs),
      ended: ({ reason, notice }: Ending) => {
        this.linkStatus.stop();
        if (reason === "replaced") this.events.status(notice);
        else void this.events.ended(notice);
      },
    };
    if (linking) {
      linking.handOver(options, events);
      this.connection = linking;
      this.attach();
    } else this.connection = new Connection(options, events);
  }

  /** Asks the server to end the link; its `ended` follows. */
  logout(): void {
    this.connection?.send({ type: "logout" });
  }

  close(): void {
    this.closed = true;
    this.detach();
    this.linkStatus.stop();
    document.removeEventListener("visibilitychange", this.askPresence);
    window.removeEventListener("online", this.reconnectNow);
    this.connection?.close("ended");
  }

  /** At the link id from `linked`; a link made before link ids existed still resumes at its session id. */
  private url(): string {
    const path = this.link.linkId ? `/api/links/${this.link.linkId}/browser` : `/api/sessions/${this.link.sessionId}/browser`;
    return webSocketUrl(path, location.href);
  }

  private attach(): void {
    this.linkStatus.opened();
    const connection = this.connection;
    this.channel.attach((message) => void connection?.send(message));
  }

  private detach(): void {
    clearInterval(this.presenceTimer);
    this.channel.detach();
  }

  private async onServerMessage(message: ServerMessage): Promise<void> {
    switch (message.type) {
      case "challenge":
        this.connection?.send({ type: "resume", signature: await signResume(this.link.deviceKey, this.link.sessionId, message.nonce) });
        return;
      case "ready":
        this.checkPresenceEvery(message.presenceCheckMs ?? DEFAULT_PRESENCE_CHECK_MS);
        await this.channel.handle(message);
        if (this.closed) return; // The channel refused the server's `ready`, and the screen closed this.
        return this.events.ready(message.phone);
      case "presence":
        return this.events.presence(message.phone);
      default:
        return this.channel.handle(message);
    }
  }
}
