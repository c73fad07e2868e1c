// What a page says about its own connection to the server, as WhatsApp Web
// does: "Computer not connected" when this computer is offline (the browser
// says so, or the server's heartbeat replies stopped), "Reconnecting in N s…"
// with "Retry now" while the server cannot be reached. Distinct from "Phone
// not connected", which the chat screen says when the server is reached but
// the phone is not. The Connection does the reconnecting; this only shows it.
import { CLOSE_CODES } from "../../shared/protocol";

export interface LinkState {
  /** navigator.onLine. */
  online: boolean;
  /** The socket is open. */
  up: boolean;
  /** The last close was a missed heartbeat: this computer's network went quiet. */
  silent: boolean;
  /** When the next attempt starts (ms since the epoch), or null while one is under way. */
  retryAt: number | null;
}

export interface StatusText {
  title: string;
  detail: string;
  /** Whether "Retry now" is offered. */
  retry: boolean;
}

/** The banner for a state, or null when connected. */
export function connectionStatus(state: LinkState, now: number): StatusText | null {
  if (state.up && state.online) return null;
  const countdown = state.retryAt === null || state.retryAt <= now ? "Connecting…" : `Reconnecting in ${Math.ceil((state.retryAt - now) / 1000)} s…`;
  if (!state.online || state.silent) {
    return { title: "Computer not connected", detail: `Make sure this computer has an active Internet connection. ${state.up ? "" : countdown}`.trim(), retry: !state.up };
  }
  return { title: "Cannot reach QR Link", detail: countdown, retry: true };
}

/** Draws the status into `element` (a .connection-status block) and keeps its countdown ticking. */
export class ConnectionStatus {
  private readonly state: LinkState = { online: navigator.onLine, up: false, silent: false, retryAt: null };
  private ticking: ReturnType<typeof setInterval> | undefined;
  private readonly listeners = new AbortController();

  constructor(
    private readonly element: HTMLElement,
    private readonly retryNow: () => void,
    /** Called whenever what is shown changes: whether the page is connected. */
    private readonly changed: (connected: boolean) => void = () => undefined,
  ) {
    const { signal } = this.listeners;
    window.addEventListener("online", () => this.update({ online: true }), { signal });
    window.addEventListener("offline", () => this.update({ online: false }), { signal });
    element.querySelector("button")?.addEventListener("click", () => this.retryNow(), { signal });
  }

  opened(): void {
    this.update({ up: true, silent: false, retryAt: null });
  }

  closed(code: number): void {
    this.update({ up: false, silent: code === CLOSE_CODES.heartbeat_timeout, retryAt: null });
  }

  reconnecting(delayMs: number): void {
    this.update({ up: false, retryAt: Date.now() + delayMs });
  }

  /** The page is done with this connection: nothing more is shown. */
  stop(): void {
    this.listeners.abort();
    clearInterval(this.ticking);
    this.element.hidden = true;
  }

  private update(change: Partial<LinkState>): void {
    Object.assign(this.state, change);
    this.draw();
  }

  private draw(): void {
    const text = connectionStatus(this.state, Date.now());
    const wasHidden = this.element.hidden;
    this.element.hidden = text === null;
    clearInterval(this.ticking);
    if (text) {
      this.element.querySelector(".connection-title")!.textContent = text.title;
      this.element.querySelector(".connection-detail")!.textContent = text.detail;
      this.element.querySelector("button")!.hidden = !text.retry;
      // Only the countdown changes each second; the title is what screen readers hear (role=status on it).
      if (this.state.retryAt !== null) this.ticking = setInterval(() => this.draw(), 500);
    }
    if (wasHidden !== this.element.hidden) this.changed(text === null);
  }
}
