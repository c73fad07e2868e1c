// The linked browser: a window onto the phone. Shows the chats the phone
// streams and sends what is typed here out through the phone, with delivery
// ticks. The socket is ChatConnection's, the drawing chat-render's.
import { appMessageSchema, type AppMessage, type ChatMessage, type Presence } from "../../shared/protocol";
import { RelayChannel } from "../../shared/relay-channel";
import { ChatConnection } from "./chat-connection";
import { renderChats, showAccount, showBanner } from "./chat-render";
import { ChatState, type Delivery } from "./chat-state";
import { $ } from "./dom";
import { clearLink, loadView, saveLink, saveView, type StoredLink } from "./link-store";

export class ChatScreen {
  private readonly state = new ChatState();
  private readonly channel: RelayChannel;
  private readonly connection: ChatConnection;
  private phone: Presence = "offline";
  private syncRequested = false;
  private flushing = false;
  private finished = false;
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
      tampered: () => showBanner("A message from the phone failed its integrity check and was dropped."),
      refused: () => {
        this.connection.close();
        showBanner("The server claimed messages this browser never sent, so it stopped talking to it. Log out and link this browser again.");
      },
    });
    this.connection = new ChatConnection(link, this.channel, {
      ready: (phone) => this.onReady(phone),
      presence: (phone) => this.setPresence(phone),
      ended: (notice) => this.end(notice),
      status: (text) => showBanner(text),
    });
    this.bindControls();
  }

  /** Takes over the socket that just linked, or resumes over a new one. */
  async start(socket?: WebSocket): Promise<void> {
    showAccount(this.link.account);
    this.connection.start(socket);
    this.state.restore(await loadView().catch(() => []));
    for (const view of this.state.list()) this.restoreLocal(view.chat.id);
    renderChats(this.state);
  }

  private onReady(phone: Presence): void {
    this.setPresence(phone);
    if (!this.syncRequested) {
      this.syncRequested = true;
      void this.post({ kind: "sync_request" });
    }
  }

  /** Stops using the link in this tab (another tab took it over, or it ended): closes the socket and writes nothing more. */
  stop(): void {
    this.finished = true;
    this.listeners.abort();
    this.connection.close();
  }

  private async end(notice: string): Promise<void> {
    if (this.finished) return;
    this.stop();
    await clearLink();
    this.onEnded(notice);
  }

  private setPresence(phone: Presence): void {
    this.phone = phone;
    if (phone === "online") {
      showBanner(null);
      void this.flushOutbox();
    } else {
      showBanner("Phone not connected. Make sure your phone is online; messages you send now wait until it is.");
    }
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
        this.connection.logout();
        // If the server cannot be reached, this browser still forgets the link.
        setTimeout(() => void this.end("You logged out."), 3_000);
      },
      { signal },
    );
  }

  // --- redrawing --------------------------------------------------------------

  private queueRender(): void {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      renderChats(this.state);
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
}
