// The linked browser: a window onto the phone. Keeps the relay socket up
// (resuming with the device key), shows the chats the phone streams, and
// sends what is typed here out through the phone, with delivery ticks.
import { signResume } from "../../shared/crypto";
import { appMessageSchema, CLOSE_CODES, HEARTBEAT, serverMessageSchema, type AppMessage, type ChatMessage, type Presence, type ServerMessage } from "../../shared/protocol";
import { RelayChannel } from "../../shared/relay-channel";
import { ChatState, type ChatView, type Delivery, type ViewMessage } from "./chat-state";
import { $ } from "./dom";
import { clearLink, loadView, saveLink, saveView, type StoredLink } from "./link-store";

const MAX_RETRY_MS = 10_000;
/** Closes after which this browser's link is gone: it forgets its keys and shows a fresh code. */
const ENDINGS: Record<number, string> = {
  [CLOSE_CODES.unknown_session]: "This browser is no longer linked.",
  [CLOSE_CODES.resume_refused]: "This browser could not prove its link, so it was logged out.",
  [CLOSE_CODES.logged_out]: "You logged out.",
  [CLOSE_CODES.revoked]: "This browser was logged out from your phone.",
  [CLOSE_CODES.inactive]: "Logged out after a long time without use.",
};
const CLOCK_SVG = '<svg viewBox="0 0 16 16" width="12" height="12" aria-hidden="true"><circle cx="8" cy="8" r="6.5" fill="none" stroke="currentColor" stroke-width="1.5"/><path d="M8 4.5V8l2.5 1.5" fill="none" stroke="currentColor" stroke-width="1.5" stroke-linecap="round"/></svg>';
const TICKS: Record<Delivery, { html: string; label: string }> = {
  pending: { html: CLOCK_SVG, label: "Waiting for the phone" },
  sent: { html: "✓", label: "Sent to the phone's server" },
  delivered: { html: "✓✓", label: "Delivered to the phone" },
};

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function timeOf(at: number): string {
  return new Date(at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function initials(name: string): string {
  return name.split(/\s+/).slice(0, 2).map((part) => part[0] ?? "").join("").toUpperCase();
}

export class ChatScreen {
  private socket: WebSocket | null = null;
  private readonly state = new ChatState();
  private readonly channel: RelayChannel;
  private phone: Presence = "offline";
  private syncRequested = false;
  private flushing = false;
  private finished = false;
  private retryMs = 500;
  private posting: Promise<unknown> = Promise.resolve();
  private renderQueued = false;
  private viewSaveQueued = false;
  /** Removes this screen's listeners when the link ends, so a later link starts clean. */
  private readonly listeners = new AbortController();

  constructor(
    private readonly link: StoredLink,
    private readonly onEnded: (notice: string) => void,
  ) {
    this.channel = new RelayChannel(link.sessionId, "to_phone", link.keys, link.channel, () => saveLink(link), {
      message: (plaintext) => this.fromPhone(plaintext),
      stored: (seq) => this.markPosted(seq, "sent"),
      delivered: (seq) => void this.delivered(seq),
      tampered: () => this.showBanner("A message from the phone failed its integrity check and was dropped."),
    });
    this.bindControls();
  }

  /** Takes over the socket that just linked, or resumes over a new one. */
  async start(socket?: WebSocket): Promise<void> {
    document.body.dataset.state = "chat";
    $("me-name").textContent = this.link.account.name;
    $("me-number").textContent = this.link.account.number;
    $("me-avatar").textContent = initials(this.link.account.name);
    if (socket) this.use(socket);
    else this.connect();
    this.state.restore(await loadView().catch(() => []));
    for (const view of this.state.list()) this.restoreLocal(view.chat.id);
    this.render();
  }

  private connect(): void {
    const url = new URL(`/api/sessions/${this.link.sessionId}/browser`, location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    this.use(new WebSocket(url));
  }

  private use(socket: WebSocket): void {
    this.socket = socket;
    this.channel.attach((message) => socket.send(JSON.stringify(message)));
    // The server closes a browser socket that stays silent; the runtime answers these without waking it.
    const heartbeat = setInterval(() => socket.readyState === WebSocket.OPEN && socket.send(HEARTBEAT.request), HEARTBEAT.intervalMs);
    socket.addEventListener("message", (event) => {
      if (event.data === HEARTBEAT.response) return;
      const parsed = serverMessageSchema.safeParse(JSON.parse(String(event.data)));
      if (parsed.success) void this.onServerMessage(parsed.data);
    });
    socket.addEventListener("close", (event) => {
      clearInterval(heartbeat);
      this.onClose(event.code);
    });
  }

  private async onServerMessage(message: ServerMessage): Promise<void> {
    switch (message.type) {
      case "challenge":
        this.socket?.send(JSON.stringify({ type: "resume", signature: await signResume(this.link.deviceKey, this.link.sessionId, message.nonce) }));
        return;
      case "ready":
        this.retryMs = 500;
        await this.channel.handle(message);
        this.setPresence(message.phone);
        if (!this.syncRequested) {
          this.syncRequested = true;
          void this.post({ kind: "sync_request" });
        }
        return;
      case "presence":
        return this.setPresence(message.phone);
      case "ended":
        return this.end(ENDINGS[CLOSE_CODES[message.reason]] ?? "This link has ended.");
      default:
        return this.channel.handle(message);
    }
  }

  private onClose(code: number): void {
    this.channel.detach();
    if (this.finished) return;
    const ending = ENDINGS[code];
    if (ending) return void this.end(ending);
    if (code === CLOSE_CODES.replaced) return this.showBanner("QR Link is open in another window. Reload to use it here.");
    this.showBanner("Connecting…");
    setTimeout(() => this.connect(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
  }

  private async end(notice: string): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.listeners.abort();
    this.socket?.close(1000, "ended");
    await clearLink();
    this.onEnded(notice);
  }

  private setPresence(phone: Presence): void {
    this.phone = phone;
    if (phone === "online") {
      this.showBanner(null);
      void this.flushOutbox();
    } else {
      this.showBanner("Phone not connected. Make sure your phone is online; messages you send now wait until it is.");
    }
  }

  private showBanner(text: string | null): void {
    const banner = $("phone-banner");
    banner.hidden = text === null;
    banner.textContent = text ?? "";
  }

  // --- from the phone -------------------------------------------------------

  private fromPhone(plaintext: string): void {
    const parsed = appMessageSchema.safeParse(JSON.parse(plaintext));
    if (!parsed.success) return;
    this.state.applyFromPhone(parsed.data);
    if (parsed.data.kind === "chat") this.restoreLocal(parsed.data.chat.id);
    if (parsed.data.kind === "synced" && !this.state.selected) {
      const first = this.state.list()[0];
      if (first) this.open(first.chat.id);
    }
    this.queueRender();
  }

  /** Messages typed here before a reload reappear with the state they had reached. */
  private restoreLocal(chatId: string): void {
    const unstored = new Set(this.link.channel.unstored.map((frame) => frame.seq));
    for (const { seq, message } of this.link.posted) if (message.chatId === chatId) this.state.addLocal(message, unstored.has(seq) ? "pending" : "sent");
    for (const message of this.link.outbox) if (message.chatId === chatId) this.state.addLocal(message, "pending");
  }

  private markPosted(upTo: number, status: Delivery): void {
    for (const { seq, message } of this.link.posted) if (seq <= upTo) this.state.setStatus(message.id, status);
    this.queueRender();
  }

  private async delivered(upTo: number): Promise<void> {
    this.markPosted(upTo, "delivered");
    this.link.posted = this.link.posted.filter(({ seq }) => seq > upTo);
    await saveLink(this.link);
  }

  // --- to the phone -----------------------------------------------------------

  /** Sends one app message; a chat message moves from the outbox to `posted` in the same saved state as its frame. */
  private post(message: AppMessage, carrying?: ChatMessage): Promise<unknown> {
    this.posting = this.posting.then(async () => {
      if (carrying) {
        this.link.outbox = this.link.outbox.filter((entry) => entry.id !== carrying.id);
        this.link.posted.push({ seq: this.link.channel.sent + 1, message: carrying });
      }
      await this.channel.send(JSON.stringify(message));
    });
    return this.posting;
  }

  private async flushOutbox(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.phone === "online" && this.link.outbox.length > 0) {
        const message = this.link.outbox[0]!;
        await this.post({ kind: "send", message }, message);
      }
    } finally {
      this.flushing = false;
    }
  }

  private async compose(text: string): Promise<void> {
    const chatId = this.state.selected;
    if (!chatId || !text.trim()) return;
    const message: ChatMessage = { id: crypto.randomUUID(), chatId, from: "me", text: text.trim(), at: Date.now() };
    this.link.outbox.push(message);
    await saveLink(this.link);
    this.state.addLocal(message, "pending");
    this.queueRender();
    void this.flushOutbox();
  }

  private open(chatId: string): void {
    if (this.state.select(chatId)) void this.post({ kind: "read", chatId });
    this.queueRender();
  }

  private bindControls(): void {
    const { signal } = this.listeners;
    $("composer").addEventListener(
      "submit",
      (event) => {
        event.preventDefault();
        const input = $<HTMLInputElement>("composer-input");
        void this.compose(input.value);
        input.value = "";
      },
      { signal },
    );
    $("chat-list").addEventListener(
      "click",
      (event) => {
        const item = (event.target as HTMLElement).closest<HTMLElement>("[data-chat]");
        if (item?.dataset.chat) this.open(item.dataset.chat);
      },
      { signal },
    );
    $("logout").addEventListener(
      "click",
      () => {
        if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ type: "logout" }));
        // If the server cannot be reached, this browser still forgets the link.
        setTimeout(() => void this.end("You logged out."), 3_000);
      },
      { signal },
    );
  }

  // --- rendering --------------------------------------------------------------

  private queueRender(): void {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      this.render();
      this.queueSaveView();
    });
  }

  /** Keeps what is shown for the next reload, at most once a second. */
  private queueSaveView(): void {
    if (this.viewSaveQueued) return;
    this.viewSaveQueued = true;
    setTimeout(() => {
      this.viewSaveQueued = false;
      if (!this.finished) void saveView(this.state.list());
    }, 1_000);
  }

  private render(): void {
    const list = $("chat-list");
    list.replaceChildren(...this.state.list().map((view) => this.chatItem(view)));
    list.dataset.count = String(this.state.list().length);
    const view = this.state.selected ? this.state.chat(this.state.selected) : undefined;
    const loading = !this.state.synced && this.state.list().length === 0;
    $("conversation-title").textContent = view ? view.chat.title : loading ? "Loading chats from your phone…" : "Select a chat";
    $<HTMLInputElement>("composer-input").disabled = !view;
    const messages = $("messages");
    const atBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 40;
    messages.replaceChildren(...(view?.messages ?? []).map((message) => this.bubble(message, view!.chat.group)));
    if (atBottom || view) messages.scrollTop = messages.scrollHeight;
  }

  private chatItem(view: ChatView): HTMLElement {
    const item = element("li", `chat-item${view.chat.id === this.state.selected ? " selected" : ""}`);
    item.dataset.chat = view.chat.id;
    const last = view.messages.at(-1);
    const body = element("div", "chat-item-body");
    const top = element("div", "chat-item-top");
    top.append(element("span", "chat-title", view.chat.title), element("time", "chat-time", last ? timeOf(last.at) : ""));
    const bottom = element("div", "chat-item-bottom");
    const preview = last ? `${last.from === "me" ? "" : view.chat.group ? `${last.from.split(" ")[0]}: ` : ""}${last.text}` : "";
    bottom.append(element("span", "chat-preview", preview));
    if (view.unread > 0) bottom.append(element("span", "unread", String(view.unread)));
    body.append(top, bottom);
    item.append(element("span", "avatar", initials(view.chat.title)), body);
    return item;
  }

  private bubble(message: ViewMessage, group: boolean): HTMLElement {
    const mine = message.from === "me";
    const bubble = element("li", `bubble ${mine ? "mine" : "theirs"}`);
    bubble.dataset.id = message.id;
    if (group && !mine) bubble.append(element("span", "sender", message.from));
    bubble.append(element("span", "text", message.text));
    const meta = element("span", "meta", timeOf(message.at));
    if (mine) {
      const tick = element("span", `tick ${message.status}`);
      tick.innerHTML = TICKS[message.status].html;
      tick.title = TICKS[message.status].label;
      tick.setAttribute("aria-label", TICKS[message.status].label);
      bubble.dataset.status = message.status;
      meta.append(tick);
    }
    bubble.append(meta);
    return bubble;
  }
}
