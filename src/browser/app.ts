// The browser page: opens a pairing session, draws each token as a QR code,
// and follows the session to "scanned" and "linked".
import QRCode from "qrcode-svg";
import { serverMessageSchema, type ServerMessage } from "../protocol";
import { BrowserPairing } from "./pairing";

type PageState = "loading" | "pending" | "scanned" | "linked" | "expired" | "error";

/** Upper bound on the drawn code's width; modules stay whole pixels, at least 4 each. */
const QR_MAX_PX = 320;
const QUIET_ZONE_MODULES = 4;
const RECONNECT_DELAY_MS = 2_000;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function setState(state: PageState): void {
  document.body.dataset.state = state;
}

function showNotice(text: string): void {
  const notice = $("notice");
  notice.textContent = text;
  notice.hidden = false;
  setTimeout(() => (notice.hidden = true), 5_000);
}

function showError(title: string, message: string): void {
  $("error-title").textContent = title;
  $("error-message").textContent = message;
  setState("error");
}

/** Replaces the code in one step, so a rotation never shows an empty frame. */
function drawQr(text: string): void {
  const code = new QRCode({ content: text, padding: QUIET_ZONE_MODULES, ecl: "M", join: true, color: "#111111", background: "#ffffff", container: "svg-viewbox" });
  const modules = code.qrcode.getModuleCount() + 2 * QUIET_ZONE_MODULES;
  const size = modules * Math.max(4, Math.floor(QR_MAX_PX / modules));
  const container = $("qr");
  container.innerHTML = code.svg({ container: "svg-viewbox" });
  const svg = container.querySelector("svg");
  svg?.setAttribute("width", String(size));
  svg?.setAttribute("height", String(size));
  container.dataset.text = text;
}

class PairingScreen {
  private sessionId: string | null = null;
  private ended = false;
  private readonly socket: WebSocket;

  constructor(private readonly pairing: BrowserPairing) {
    const url = new URL("/api/sessions/connect", location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    this.socket = new WebSocket(url);
    this.socket.addEventListener("message", (event) => void this.onMessage(event.data));
    this.socket.addEventListener("close", () => this.onClose());
  }

  private async onMessage(data: unknown): Promise<void> {
    let message: ServerMessage;
    try {
      message = serverMessageSchema.parse(JSON.parse(String(data)));
    } catch {
      return; // A message from a newer server this page does not know: ignore it.
    }
    switch (message.type) {
      case "session":
        this.sessionId = message.sessionId;
        break;
      case "token":
        if (!this.sessionId) return;
        drawQr(this.pairing.qrText(location.origin, this.sessionId, message.token));
        setState("pending");
        break;
      case "scanned":
        setState("scanned");
        break;
      case "linked":
        await this.onLinked(message);
        break;
      case "ended":
        this.onEnded(message.reason);
        break;
    }
  }

  private async onLinked(message: Extract<ServerMessage, { type: "linked" }>): Promise<void> {
    const keys = this.sessionId ? await this.pairing.verifyLinked(this.sessionId, message) : null;
    if (!keys) {
      this.socket.send(JSON.stringify({ type: "key_mismatch" }));
      this.ended = true;
      showError("This link was refused", "The phone's answer did not match this code, so nothing was linked. Scan a fresh code to try again.");
      return;
    }
    $("linked-account").textContent = `Linked to ${message.account.name} (${message.account.number})`;
    setState("linked");
  }

  private onEnded(reason: string): void {
    this.ended = true;
    if (reason === "expired") setState("expired");
    else if (reason === "rejected") {
      showNotice("The link was rejected on the phone. Here is a fresh code.");
      void start();
    }
  }

  private onClose(): void {
    if (this.ended || document.body.dataset.state === "linked") return;
    // The connection dropped without an ending: open a fresh session.
    setState("loading");
    setTimeout(() => void start(), RECONNECT_DELAY_MS);
  }
}

async function start(): Promise<void> {
  setState("loading");
  if (!crypto.subtle || !("WebSocket" in window)) {
    showError("This browser cannot link", "QR Link needs a browser with WebCrypto and WebSockets, on https or localhost.");
    return;
  }
  try {
    new PairingScreen(await BrowserPairing.create());
  } catch {
    showError("This browser cannot link", "It lacks X25519 key agreement in WebCrypto. Try a current Chrome, Edge, Firefox or Safari.");
  }
}

document.addEventListener("click", (event) => {
  const target = event.target as HTMLElement;
  if (target.closest("[data-action=restart]")) void start();
  if (target.id === "copy-qr") {
    const text = $("qr").dataset.text;
    if (text) void navigator.clipboard.writeText(text).then(() => showNotice("Copied. It changes with every new code."));
  }
});

void start();
