// The phone simulator as a page (/phone, and /link when a camera app opens a
// QR code): register, scan and confirm, list and revoke linked devices, its
// own chat screen, and this phone's chats streamed to every linked browser
// with the same code as the CLI phone.
import { generateIdentityKeyPair } from "../../shared/crypto";
import { HISTORY_PAGE_LIMIT, LINK_PATH, parseQrText, type QrPayload } from "../../shared/protocol";
import { MalformedCodeError, tryLinkCode } from "../phone-core/code-link";
import { Phone, ServerError, type Inspection } from "../phone-core/phone";
import { PhoneChats, type ChatsEvent } from "../phone-core/phone-chats";
import { newLinkRecord } from "../phone-core/phone-store";
import { announceMessage, bindChatList, focusChatInList, renderChats } from "../browser/chat-render";
import { ChatState, TYPING_SHOWN_MS } from "../browser/chat-state";
import { $, showNotice } from "../browser/dom";
import { showAttachment, typedFile } from "../browser/media-view";
import { runInOneTab } from "../browser/tab-lock";
import { CameraScanner, decodeQr, scanHint } from "./camera-scanner";
import { IndexedDbPhoneStore } from "./indexeddb-phone-store";

type Screen = "loading" | "register" | "home" | "chats" | "scan" | "arrived" | "confirm" | "code";

function show(screen: Screen): void {
  document.body.dataset.screen = screen;
}

function log(text: string): void {
  const item = document.createElement("li");
  item.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $("activity").prepend(item);
}

/** `/phone?contacts=quiet`: contacts only answer, they never write first (for tests and demos). */
const LIVELY_CONTACTS = new URLSearchParams(location.search).get("contacts") !== "quiet";

class PhoneApp {
  private readonly chats: PhoneChats;
  /** The phone's own chat screen, drawn like a browser's from the same log. */
  private readonly view = new ChatState();
  private pending: { qr: QrPayload; inspection: Inspection } | null = null;
  /** A code from the URL this page was opened at, waiting for the user to say they are linking a computer in front of them. */
  private arrived: string | null = null;
  private readonly camera = new CameraScanner();

  constructor(
    private readonly store: IndexedDbPhoneStore,
    private readonly phone: Phone,
  ) {
    this.chats = new PhoneChats(phone, store, (event) => this.onChats(event), { lively: LIVELY_CONTACTS });
    // Drawn like a browser's: the chat list now, a chat's messages when it is opened.
    const chats = store.chatList();
    this.view.applyFromPhone({ kind: "chats", chats });
    this.view.applyFromPhone({ kind: "synced", chats: chats.length, version: store.version });
  }

  /** Another tab took the phone over: this one closes its sockets and its camera. */
  stop(): void {
    this.camera.stop();
    this.chats.stop();
  }

  async start(): Promise<void> {
    $("phone-who").textContent = `${this.phone.identity.name} (${this.phone.identity.number})`;
    for (const record of this.store.links()) await this.stream(record.sessionId);
    this.chats.startContacts();
    await this.home();
    // Opened at /link#…: by a camera app, or by any link or redirect on any page. Keep the code out of the
    // history, and spend nothing until the user says a computer in front of them is asking to be linked.
    if (location.pathname === LINK_PATH && location.hash) {
      this.arrived = location.href;
      history.replaceState(null, "", "/phone");
      show("arrived");
    }
  }

  /** The user says they are linking a computer in front of them: only now is the code from the URL used. */
  async continueArrived(): Promise<void> {
    const text = this.arrived;
    this.arrived = null;
    if (text) await this.scanned(text);
  }

  async cancelArrived(): Promise<void> {
    this.arrived = null;
    log("Ignored a link to link a device");
    await this.home();
  }

  async home(): Promise<void> {
    this.camera.stop();
    show("home");
    $("streaming").textContent = this.chats.size ? `Streaming chats to ${this.chats.size} linked browser${this.chats.size === 1 ? "" : "s"}.` : "No browser linked yet.";
    const list = $("device-list");
    try {
      const devices = await this.phone.devices();
      list.replaceChildren(
        ...devices.map((device) => {
          const item = document.createElement("li");
          const label = document.createElement("div");
          label.textContent = device.name;
          const detail = document.createElement("small");
          detail.textContent = `${device.place}; linked ${new Date(device.linkedAt).toLocaleString()}; last active ${new Date(device.lastActiveAt).toLocaleString()}`;
          label.append(detail);
          const logout = document.createElement("button");
          logout.textContent = "Log out";
          logout.addEventListener("click", () => void this.revoke(device.id));
          item.append(label, logout);
          item.dataset.device = device.id;
          return item;
        }),
      );
      if (devices.length === 0) list.replaceChildren(listLine("None."));
    } catch (error) {
      list.replaceChildren(listLine(`Could not load the list: ${(error as Error).message}`));
    }
  }

  showChats(): void {
    show("chats");
    this.drawChats();
  }

  /** Opens a chat on the phone: read here, so read on every linked browser. */
  openChat(chatId: string): void {
    if (this.view.select(chatId)) void this.chats.read(chatId);
    this.loadOlder(chatId);
    $("chat-list").closest<HTMLElement>(".phone-chats")!.dataset.open = "chat";
    this.drawChats();
    $("composer-input").focus();
  }

  /** The chat's messages before the oldest shown, from the phone's own store. */
  loadOlder(chatId: string): void {
    if (!this.view.chat(chatId)?.hasOlder) return;
    const before = this.view.oldestLogged(chatId);
    const page = this.store.page(chatId, HISTORY_PAGE_LIMIT, before);
    if (page) this.view.applyFromPhone({ kind: "history", chatId, messages: page.messages, hasOlder: page.hasOlder, ...(before ? { before } : {}) });
    this.drawChats();
  }

  /** Scrolled near the top of the open chat: its older messages. */
  scrolledUp(): void {
    if (this.view.selected) this.loadOlder(this.view.selected);
  }

  /** Back to the list, on the chat that was open. */
  closeChat(): void {
    const open = this.view.selected;
    this.view.selected = null;
    $("chat-list").closest<HTMLElement>(".phone-chats")!.dataset.open = "list";
    this.drawChats();
    focusChatInList(open);
  }

  /** A photo or file in the open chat: what the phone already fetched (or fetches now) opens full size, or is saved. */
  async openAttachment(blobId: string): Promise<void> {
    const view = this.view.selected ? this.view.chat(this.view.selected) : undefined;
    const attachment = view?.messages.find((message) => message.attachment?.blobId === blobId)?.attachment;
    if (!attachment) return;
    const bytes = this.chats.media.files.get(blobId) ?? (await this.chats.media.receive(attachment).catch((error: unknown) => void log(`Could not open ${attachment.name}: ${error instanceof Error ? error.message : String(error)}`)));
    if (!bytes) return;
    showAttachment(typedFile(bytes, attachment), attachment);
  }

  /** A message typed on the phone: logged, then shown on every linked browser. */
  async send(text: string): Promise<void> {
    const chatId = this.view.selected;
    if (chatId && text.trim()) await this.chats.send(chatId, text.trim());
  }

  private drawChats(): void {
    if (document.body.dataset.screen === "chats") renderChats(this.view);
  }

  async scan(): Promise<void> {
    show("scan");
    showScanStatus(scanHint(0), false);
    // No camera, or no permission: the status says how to allow it; paste or pick a picture instead.
    await this.camera.start($<HTMLVideoElement>("camera"), {
      found: (text) => void this.scanned(text),
      status: (text, problem) => showScanStatus(text, problem),
    });
  }

  /** What a scan read: ask the server what asks to be linked, and show it. */
  async scanned(text: string): Promise<void> {
    this.camera.stop();
    const qr = parseQrText(text);
    if (!qr) return showNotice("That is not a QR Link code.");
    if (qr.origin !== location.origin) return showNotice(`That code is for ${qr.origin}, not for this server.`);
    try {
      const inspection = await this.phone.inspect(qr);
      this.pending = { qr, inspection };
      this.showContext(inspection);
      this.showChoices(inspection.choices);
      show("confirm");
    } catch (error) {
      showNotice(error instanceof ServerError ? error.message : "Could not reach the server.");
      await this.home();
    }
  }

  /** "Link with a code": the code the computer shows, typed here instead of scanning its QR code. */
  askForCode(): void {
    this.camera.stop();
    $("code-error").hidden = true;
    $<HTMLFormElement>("code-form").reset();
    show("code");
  }

  /** The typed code: a wrong one stays on this screen with the tries left; a right one shows the same confirm screen as a scan. */
  async codeTyped(typed: string): Promise<void> {
    const error = $("code-error");
    error.hidden = true;
    try {
      const { qr, inspection } = await tryLinkCode(this.phone, typed);
      this.pending = { qr, inspection };
      this.showContext(inspection);
      this.showChoices(inspection.choices);
      show("confirm");
    } catch (failure) {
      error.textContent = failure instanceof ServerError || failure instanceof MalformedCodeError ? failure.message : "Could not reach the server.";
      error.hidden = false;
    }
  }

  private showContext(context: Inspection): void {
    const rows: [string, string][] = [
      ["Device", `Reported by the browser: ${context.browser} on ${context.os}`],
      ["Place", `${context.place} (IP ${context.ipPrefix})`],
      ["Code made", new Date(context.qrCreatedAt).toLocaleString()],
    ];
    $("context").replaceChildren(
      ...rows.flatMap(([term, value]) => {
        const [dt, dd] = [document.createElement("dt"), document.createElement("dd")];
        dt.textContent = term;
        dd.textContent = value;
        return [dt, dd];
      }),
    );
    const warning = $("place-warning");
    warning.hidden = !context.placeMismatch && !context.placeUnknown;
    warning.dataset.warning = context.placeMismatch ? "mismatch" : context.placeUnknown ? "unknown" : "";
    warning.textContent = context.placeMismatch
      ? `This device is in ${context.place}, not where this phone is. If you did not open this code yourself, someone may be relaying it: reject.`
      : context.placeUnknown
        ? "Place unknown: this phone cannot tell whether the device is near it. Link it only if it is the computer in front of you."
        : "";
  }

  /** Three numbers, one of them on the computer's screen. */
  private showChoices(choices: string[]): void {
    $("match-choices").replaceChildren(
      ...choices.map((choice) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "choice";
        button.textContent = choice;
        button.dataset.choice = choice;
        button.addEventListener("click", () => void this.pick(choice));
        return button;
      }),
    );
  }

  /** The right number links; another one ends the session, and the computer is told. */
  async pick(choice: string): Promise<void> {
    const pending = this.pending;
    if (!pending) return;
    if (choice === pending.inspection.matchingNumber) return this.confirm();
    this.pending = null;
    await this.phone.reject(pending.qr, "wrong_number").catch(() => undefined);
    showNotice("That is not the number on the computer, so nothing was linked.");
    log("Picked the wrong number: nothing was linked");
    await this.home();
  }

  async confirm(): Promise<void> {
    const qr = this.pending?.qr;
    if (!qr) return;
    this.pending = null;
    try {
      const linked = await this.phone.confirm(qr);
      await this.store.saveLink(newLinkRecord(qr, linked.linkId, linked.agreement.privateKey));
      log("Linked a browser");
      await this.stream(qr.sessionId);
    } catch (error) {
      showNotice(error instanceof ServerError ? error.message : "Could not reach the server.");
    }
    await this.home();
  }

  async reject(): Promise<void> {
    const qr = this.pending?.qr;
    this.pending = null;
    if (qr) await this.phone.reject(qr).catch(() => undefined);
    log("Rejected a link");
    await this.home();
  }

  async revoke(sessionId: string): Promise<void> {
    await this.phone.revoke(sessionId).catch((error: Error) => showNotice(error.message));
    this.chats.close(sessionId);
    await this.store.removeLink(sessionId);
    log("Logged a browser out");
    await this.home();
  }

  private async stream(sessionId: string): Promise<void> {
    const record = this.store.links().find((link) => link.sessionId === sessionId);
    if (record) await this.chats.open(record, WebSocket);
  }

  private onChats(event: ChatsEvent): void {
    if (event.kind === "change") {
      this.view.applyFromPhone({ kind: "changes", changes: [event.change] });
      // A message in the chat open on the phone's screen is read as it arrives.
      if (document.body.dataset.screen === "chats" && this.view.readSelected()) void this.chats.read(this.view.selected!);
      if (event.change.type === "message") {
        const { message } = event.change;
        if (message.from !== "me" && message.chatId === this.view.selected) announceMessage(message.from, message.text);
        log(message.from === "me" ? `You → ${event.chat.title}: ${message.text}` : `${message.from} → you: ${message.text}`);
      }
    }
    if (event.kind === "typing") {
      this.view.applyFromPhone({ kind: "typing", chatId: event.chatId, from: event.from });
      setTimeout(() => this.drawChats(), TYPING_SHOWN_MS + 100);
    }
    if (event.kind === "synced") log(`Sent ${event.chats} chats to a browser`);
    if (event.kind === "media") log(event.ok ? `Fetched ${event.name} (${event.size} bytes, sha256 ${event.sha256})` : `Could not fetch ${event.name}: ${event.error}`);
    if (event.kind === "failed") log(`Something went wrong, and the phone goes on: ${event.error}`);
    if (event.kind === "link" && event.event.kind === "taken_over") log(`Stopped streaming to a browser: ${event.event.notice}`);
    if (event.kind === "link" && event.event.kind === "refused") log(`Stopped streaming to a browser: ${event.event.reason}`);
    if (event.kind === "link" && event.event.kind === "ended") {
      log(`A browser's link ended (${event.event.reason})`);
      if (document.body.dataset.screen === "home") void this.home();
    }
    this.drawChats();
  }
}

/** A list's only line, saying why it has no entries. */
function listLine(text: string): HTMLLIElement {
  const item = document.createElement("li");
  item.textContent = text;
  return item;
}

/** The scan screen's guidance, or why the camera cannot be used (then the camera's box is hidden). */
function showScanStatus(text: string, problem: boolean): void {
  const status = $("scan-status");
  status.textContent = text;
  status.classList.toggle("warning", problem);
  $("camera").hidden = problem;
}

async function register(form: HTMLFormElement): Promise<void> {
  const data = new FormData(form);
  const pair = await generateIdentityKeyPair(false);
  const identity = { number: String(data.get("number")).trim(), name: String(data.get("name")).trim(), ...pair };
  try {
    await new Phone(location.origin, identity).register();
  } catch (error) {
    return showNotice(error instanceof ServerError ? error.message : "Could not reach the server.");
  }
  const store = await IndexedDbPhoneStore.create(identity);
  await run(store);
}

let app: PhoneApp | null = null;

async function run(store: IndexedDbPhoneStore): Promise<void> {
  app = new PhoneApp(store, new Phone(location.origin, store.identity));
  await app.start();
}

$("register-form").addEventListener("submit", (event) => {
  event.preventDefault();
  void register(event.target as HTMLFormElement);
});
$("start-link").addEventListener("click", () => void app?.scan());
$("open-chats").addEventListener("click", () => app?.showChats());
$("close-chat").addEventListener("click", () => app?.closeChat());
$("messages").addEventListener("scroll", (event) => (event.target as HTMLElement).scrollTop < 400 && app?.scrolledUp(), { passive: true });
bindChatList($("chat-list"), (chatId) => app?.openChat(chatId));
$("messages").addEventListener("click", (event) => {
  const blobId = (event.target as HTMLElement).closest<HTMLElement>("[data-blob]")?.dataset.blob;
  if (blobId) void app?.openAttachment(blobId);
});
$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $<HTMLInputElement>("composer-input");
  void app?.send(input.value);
  input.value = "";
});
$("paste-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = new FormData(event.target as HTMLFormElement).get("text");
  void app?.scanned(String(text ?? ""));
});
$("pick-image").addEventListener("change", async (event) => {
  const file = (event.target as HTMLInputElement).files?.[0];
  if (!file || !app) return;
  const text = await createImageBitmap(file)
    .then((image) => decodeQr(image))
    .catch(() => undefined);
  if (text) await app.scanned(text);
  else showNotice("No QR code found in that picture. Pick one with the whole code in view, or paste the code's text.");
});
$("start-link-code").addEventListener("click", () => app?.askForCode());
$("code-form").addEventListener("submit", (event) => {
  event.preventDefault();
  void app?.codeTyped(String(new FormData(event.target as HTMLFormElement).get("code") ?? ""));
});
$("reject").addEventListener("click", () => void app?.reject());
$("arrived-continue").addEventListener("click", () => void app?.continueArrived());
$("arrived-cancel").addEventListener("click", () => void app?.cancelArrived());
document.addEventListener("click", (event) => {
  if ((event.target as HTMLElement).closest("[data-action=home]")) void app?.home();
});

// One tab is the phone at a time: two would stream the same links from one stored state.
runInOneTab("qr-link-phone", async () => {
  const stop = () => {
    app?.stop();
    app = null;
  };
  if (!(await IndexedDbPhoneStore.claimWriter().then(() => true, () => false))) {
    showNotice("This phone keeps its keys in this browser's storage (IndexedDB), which is not available here.");
    return stop;
  }
  const stored = await IndexedDbPhoneStore.load().catch(() => null);
  if (stored) await run(stored);
  else show("register");
  return stop;
});
