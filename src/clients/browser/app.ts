// The browser page: shows a rotating QR code until a phone links this
// browser, then becomes the chat screen. A linked browser resumes on reload.
import QRCode from "qrcode-svg";
import type { ServerMessage } from "../../shared/protocol";
import type { Ending } from "../connection/close-codes";
import type { Connection } from "../connection/connection";
import { ChatScreen } from "./chat-screen";
import { ConnectionStatus } from "./connection-status";
import { finishLink } from "./finish-link";
import { claimLinkWriter, loadLink, type StoredLink } from "./link-store";
import { $, showNotice } from "./dom";
import { BrowserPairing } from "./pairing";
import { openPairingConnection, refusalText } from "./pairing-connection";
import { runInOneTab } from "./tab-lock";
import { TokenSchedule } from "./token-schedule";

type PageState = "loading" | "pending" | "scanned" | "linked" | "expired" | "error" | "code-number" | "code";

/** Upper bound on the drawn code's width; modules stay whole pixels, at least 4 each. */
const QR_MAX_PX = 320;
const QUIET_ZONE_MODULES = 4;

/** What this tab shows (the QR code, a code to type, or the chats) while it holds the tab lock; null while another tab does. */
let screen: { stop(): void } | null = null;
let holdsTab = false;

function setState(state: PageState): void {
  document.body.dataset.state = state;
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
  /** Set once the session ended or the chat screen took the connection over. */
  private done = false;
  private readonly connection: Connection;
  /** "Computer not connected", "Reconnecting in N s… Retry now" while the code cannot be kept fresh. */
  private readonly linkStatus = new ConnectionStatus($("pairing-connection"), () => this.connection.reconnectNow());
  /** Why the phone's last confirm was refused, while the scan waits again; null when it was not. */
  private refusal: string | null = null;
  /** The session's tokens, each drawn when its window begins. */
  private tokens = new TokenSchedule(0);
  private drawn: string | null = null;
  private nextDraw: ReturnType<typeof setTimeout> | undefined;

  /** A dropped connection reconnects to a fresh session, with fresh keys for its codes; `linked` is checked only once `scanned` has been. */
  constructor(private pairing: BrowserPairing) {
    this.connection = openPairingConnection("/api/sessions/connect", {
      open: () => this.linkStatus.opened(),
      closed: (code) => this.linkStatus.closed(code),
      message: (message) => this.onMessage(message),
      reconnecting: (delayMs) => {
        this.linkStatus.reconnecting(delayMs);
        if (!this.done) setState("loading");
      },
      ended: (ending) => this.onEnded(ending),
    });
  }

  /** This screen is done: it shows nothing more about its connection. */
  private finish(): void {
    this.done = true;
    clearTimeout(this.nextDraw);
    this.linkStatus.stop();
  }

  /** Draws the token due now, and waits for the next one's window. */
  private drawDueToken(): void {
    clearTimeout(this.nextDraw);
    const token = this.tokens.due(Date.now());
    if (!this.sessionId || !token || this.done) return;
    if (token.token !== this.drawn) drawQr(this.pairing.qrText(location.origin, this.sessionId, token.token));
    this.drawn = token.token;
    const next = this.tokens.nextChangeAt(Date.now());
    if (next !== null) this.nextDraw = setTimeout(() => this.drawDueToken(), Math.max(0, next - Date.now()));
  }

  /** Another tab took over, or another screen (a code instead of this QR): this session is closed and forgotten. */
  stop(): void {
    this.finish();
    this.connection.close("open in another window");
  }

  private async onMessage(message: ServerMessage): Promise<void> {
    if (this.done) return;
    switch (message.type) {
      case "session":
        if (this.sessionId) this.pairing = await BrowserPairing.create();
        this.sessionId = message.sessionId;
        this.tokens = new TokenSchedule(message.createdAt - Date.now());
        break;
      case "token":
        if (!this.sessionId) return;
        this.tokens.add(message);
        this.drawDueToken();
        setState("pending");
        break;
      case "scanned":
        await this.onScanned(message);
        break;
      case "linked":
        await this.onLinked(message);
        break;
      case "refused":
        this.onRefused(message);
        break;
    }
  }

  /** Shows the number the phone must pick, derived from the key it committed to; a key that cannot be used ends this attempt. */
  private async onScanned(message: Extract<ServerMessage, { type: "scanned" }>): Promise<void> {
    $("match-number").textContent = "";
    this.showRefusal(null);
    setState("scanned");
    const number = this.sessionId ? await this.pairing.scanned(this.sessionId, message) : null;
    if (number === null) {
      this.finish();
      this.connection.close("unusable phone key");
      showError("This link was refused", "The phone's answer did not fit this code, so nothing was linked. Scan a fresh code to try again.");
      return;
    }
    $("match-number").textContent = number;
  }

  /** Trusts the link only when the phone's MAC verifies, for the key whose number was shown; then registers a device key and hands over to the chat screen. */
  private async onLinked(message: Extract<ServerMessage, { type: "linked" }>): Promise<void> {
    const keys = this.sessionId ? await this.pairing.verifyLinked(this.sessionId, message) : null;
    if (!keys || !this.sessionId) {
      this.connection.send({ type: "key_mismatch" });
      this.finish();
      showError("This link was refused", "The phone's answer did not match this code, so nothing was linked. Scan a fresh code to try again.");
      return;
    }
    this.finish();
    await finishLink(this.connection, this.sessionId, message, keys, showChats);
  }

  /**
   * The phone confirmed but its account refused the link. The scan waits
   * again (same number): the phone can log a device out and confirm once more
   * before the window closes, so the page says why and keeps waiting.
   */
  private onRefused(message: Extract<ServerMessage, { type: "refused" }>): void {
    const text = refusalText(message);
    this.showRefusal(text);
    showNotice(text);
  }

  private showRefusal(text: string | null): void {
    this.refusal = text;
    const element = $("scan-refusal");
    element.textContent = text ?? "";
    element.hidden = text === null;
  }

  private onEnded({ reason, notice }: Ending): void {
    if (this.done) return;
    this.finish();
    const abandoned = reason === "expired" && document.body.dataset.state === "scanned";
    if (reason === "rejected" || abandoned) {
      const unconfirmed = this.refusal ? `Nothing was linked: ${this.refusal} Here is a fresh code.` : "Nobody confirmed on the phone. Here is a fresh code.";
      showNotice(abandoned ? unconfirmed : notice);
      void startPairing();
    } else if (reason === "expired") setState("expired");
    else if (reason === "too_many_attempts") showError("This code was withdrawn", notice);
    else if (reason === "wrong_number") showError("The numbers did not match", notice);
  }
}

async function startPairing(): Promise<void> {
  if (!holdsTab) return;
  screen?.stop();
  setState("loading");
  if (!crypto.subtle || !("WebSocket" in window)) {
    showError("This browser cannot link", "QR Link needs a browser with WebCrypto and WebSockets, on https or localhost.");
    return;
  }
  try {
    const pairing = await BrowserPairing.create();
    if (holdsTab) screen = new PairingScreen(pairing);
  } catch {
    showError("This browser cannot link", "It lacks X25519 key agreement in WebCrypto. Try a current Chrome, Edge, Firefox or Safari.");
  }
}

/** Back to a code to scan; a link that ended gave up writing the store (clearLink), so the next link claims it again. */
function returnToPairing(notice: string): void {
  showNotice(notice);
  if (holdsTab) void claimStore().then((claimed) => (claimed ? startPairing() : undefined));
}

/** Makes this tab the link's writer, or shows why it cannot link. */
async function claimStore(): Promise<boolean> {
  if (await claimLinkWriter().then(() => true, () => false)) return true;
  showError("This browser cannot link", "QR Link keeps its link in this browser's storage (IndexedDB), which is not available here.");
  return false;
}

/** "Link with phone number instead": the QR session closes, and the page asks for the number. */
function askForNumber(): void {
  if (!holdsTab) return;
  screen?.stop();
  screen = null;
  setState("code-number");
  $<HTMLInputElement>("code-number-input").focus();
}

/** A code for the number typed: the page shows it until the phone types it, then links as after a scan. */
async function startCodePairing(number: string): Promise<void> {
  if (!holdsTab) return;
  screen?.stop();
  setState("loading");
  try {
    // Loaded only when asked for: the PAKE's curve (@noble/curves) costs every page load tens of milliseconds otherwise.
    const [{ BrowserCodePairing }, { CodeScreen }] = await Promise.all([import("./code-pairing"), import("./code-screen")]);
    const pairing = await BrowserCodePairing.create();
    // Checked again after the await: a tab that lost the lock meanwhile opens no session.
    if (holdsTab) screen = new CodeScreen(pairing, number, { setState, showError, returnToPairing, showChats });
  } catch {
    // The code's part of the page could not be loaded (the connection dropped, or a new version replaced it): the QR code still works.
    showError("Linking with a phone number is not available right now", "This page could not load what it needs for it. Check the connection; Try again links with a QR code.");
  }
}

$("code-number-form").addEventListener("submit", (event) => {
  event.preventDefault();
  void startCodePairing(String(new FormData(event.target as HTMLFormElement).get("number") ?? "").trim());
});

document.addEventListener("click", (event) => {
  const target = event.target as HTMLElement;
  if (target.closest("[data-action=restart]")) void startPairing();
  if (target.id === "use-code") askForNumber();
  if (target.id === "copy-qr") {
    const text = $("qr").dataset.text;
    if (text) void navigator.clipboard.writeText(text).then(() => showNotice("Copied. It changes with every new code."));
  }
});

/** The chat screen for a link: the connection that just linked it, or a new one that resumes. */
function showChats(link: StoredLink, linking?: Connection): Promise<void> {
  const chats = new ChatScreen(link, returnToPairing);
  screen = chats;
  return chats.start(linking);
}

// Only the tab holding the lock runs, QR screen included: a second QR screen could link and overwrite the stored link.
runInOneTab("qr-link", async () => {
  holdsTab = true;
  const stop = () => {
    holdsTab = false;
    screen?.stop();
    screen = null;
  };
  if (!(await claimStore())) return stop;
  const stored = await loadLink().catch(() => null);
  if (stored) void showChats(stored);
  else void startPairing();
  return stop;
});
