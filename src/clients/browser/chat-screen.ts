// The linked browser: a window onto the phone. Shows the chats as the phone's
// snapshot and change log describe them, keeps them for the next visit, and
// sends what is typed or read here out through the phone, which tells every
// linked device. The socket is ChatConnection's, the drawing chat-render's.
import { parseAppMessage, type AppMessage, type Attachment, type Change, type ChatMessage, type Presence } from "../../shared/protocol";
import { RelayChannel } from "../../shared/relay-channel";
import type { Connection } from "../connection/connection";
import { ChatConnection } from "./chat-connection";
import { ChatMedia } from "./chat-media";
import { renderChats, showAccount, showBanner } from "./chat-render";
import { ChatState } from "./chat-state";
import { loadChats, saveChats } from "./chat-store";
import { $ } from "./dom";
import { clearLink, saveLink, type StoredLink } from "./link-store";
import { notifyMessage, offerNotifications } from "./notifications";

export class ChatScreen {
  private readonly state = new ChatState();
  private readonly channel: RelayChannel;
  private readonly connection: ChatConnection;
  private finished = false;
  /** What was kept from the last visit is shown. */
  private restored: Promise<void> = Promise.resolve();
  /** A sync_request for a gap is on its way; one is enough until the phone answers. */
  private catchingUp = false;
  private renderQueued = false;
  private typingTimer: ReturnType<typeof setTimeout> | undefined;
  /** Removes this screen's listeners when the link ends, so a later link starts clean. */
  private readonly listeners = new AbortController();
  private readonly media: ChatMedia;

  constructor(
    private readonly link: StoredLink,
    private readonly onEnded: (notice: string) => void,
  ) {
    this.channel = new RelayChannel(link.sessionId, "to_phone", link.keys, link.channel, () => saveLink(link), {
      message: (plaintext) => this.fromPhone(plaintext),
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
    this.media = new ChatMedia(link);
    this.bindControls();
    this.bindMedia();
  }

  /**
   * Takes over the connection that just linked (at once, so no message is
   * missed) or resumes over a new one, and draws what was kept from the last
   * visit; nothing from the phone is applied before that is restored.
   */
  async start(linking?: Connection): Promise<void> {
    showAccount(this.link.account);
    this.restored = loadChats()
      .catch(() => ({ version: 0, profile: null, chats: [] }))
      .then((saved) => {
        this.state.restore(saved);
        this.render();
      });
    this.connection.start(linking);
    await this.restored;
  }

  /** Every time the relay opens: the phone sends what this browser has not applied (all of it, the first time). */
  private onReady(phone: Presence): void {
    this.setPresence(phone);
    void this.restored.then(() => this.post({ kind: "sync_request", since: this.state.version }));
  }

  /** Stops using the link in this tab (another tab took it over, or it ended): closes the socket and writes nothing more. */
  stop(): void {
    this.finished = true;
    this.listeners.abort();
    this.connection.close();
    document.title = "QR Link";
  }

  private async end(notice: string): Promise<void> {
    if (this.finished) return;
    this.stop();
    await clearLink();
    this.onEnded(notice);
  }

  private setPresence(phone: Presence): void {
    showBanner(phone === "online" ? null : "Phone not connected. Make sure your phone is online; messages you send now wait until it is.");
  }

  // --- from the phone -------------------------------------------------------

  /** Applies one frame and saves what it changed before the frame is acknowledged, so a reload asks from the right version. */
  private async fromPhone(plaintext: string): Promise<void> {
    const message = parseAppMessage(plaintext);
    if (!message) return;
    await this.restored;
    const before = this.state.version;
    if (this.state.applyFromPhone(message) === "gap") {
      if (!this.catchingUp) void this.post({ kind: "sync_request", since: this.state.version });
      this.catchingUp = true;
    } else if (message.kind === "changes" || message.kind === "synced") {
      this.catchingUp = false;
    }
    if (message.kind === "changes") this.announce(message.changes.filter((change) => change.version > before && change.version <= this.state.version));
    if (message.kind === "typing") this.expireTypingLater();
    if (message.kind === "synced" && !this.state.selected) {
      const first = this.state.list()[0];
      if (first) this.state.selected = first.chat.id;
    }
    this.readOpenChat();
    await saveChats(this.state.version, this.state.profile, this.state.takeChanged());
    this.queueRender();
  }

  /** A contact's new message while this tab is hidden: a desktop notification, if the user allowed them. */
  private announce(applied: Change[]): void {
    for (const change of applied) {
      if (change.type !== "message" || change.message.from === "me") continue;
      const chat = this.state.chat(change.message.chatId)?.chat;
      if (chat) notifyMessage(chat, change.message);
    }
  }

  /** The open chat, in a visible tab, is read: the phone is told, and every device clears its count. */
  private readOpenChat(): void {
    if (document.visibilityState !== "visible" || !this.state.selected) return;
    if (this.state.readSelected()) void this.post({ kind: "read", chatId: this.state.selected });
  }

  private expireTypingLater(): void {
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.queueRender(), 4_100);
  }

  // --- to the phone -----------------------------------------------------------

  /** Seals and sends an app message; the relay keeps it until the phone has it. */
  private post(message: AppMessage): Promise<number> {
    return this.channel.send(JSON.stringify(message));
  }

  private async compose(text: string): Promise<void> {
    const chatId = this.state.selected;
    if (!chatId || !text.trim()) return;
    const message: ChatMessage = { id: crypto.randomUUID(), chatId, from: "me", text: text.trim(), at: Date.now() };
    this.state.addPending(message);
    await saveChats(this.state.version, this.state.profile, this.state.takeChanged());
    this.queueRender();
    await this.post({ kind: "send", message });
  }

  /** A photo or file attached here: uploaded first, then sent like any message, so it reaches every device through the phone. */
  private async sendAttachment(file: File): Promise<void> {
    const chatId = this.state.selected;
    if (!chatId) return;
    const attachment = await this.media.attach(file);
    if (!attachment) return;
    const input = $<HTMLInputElement>("composer-input");
    const message: ChatMessage = { id: crypto.randomUUID(), chatId, from: "me", text: input.value.trim(), at: Date.now(), attachment };
    input.value = "";
    this.state.addPending(message);
    await saveChats(this.state.version, this.state.profile, this.state.takeChanged());
    this.queueRender();
    await this.post({ kind: "send", message });
  }

  /** The attachment of the open chat's message with this blob. */
  private attachmentOf(blobId: string): Attachment | undefined {
    const view = this.state.selected ? this.state.chat(this.state.selected) : undefined;
    return view?.messages.find((message) => message.attachment?.blobId === blobId)?.attachment;
  }

  private bindMedia(): void {
    const { signal } = this.listeners;
    const picker = $<HTMLInputElement>("attach-input");
    $("attach").addEventListener("click", () => picker.click(), { signal });
    picker.addEventListener(
      "change",
      () => {
        const file = picker.files?.[0];
        picker.value = "";
        if (file) void this.sendAttachment(file);
      },
      { signal },
    );
    const conversation = $("messages").closest<HTMLElement>(".conversation")!;
    conversation.addEventListener("dragover", (event) => {
      event.preventDefault();
      conversation.classList.add("dropping");
    }, { signal });
    conversation.addEventListener("dragleave", () => conversation.classList.remove("dropping"), { signal });
    conversation.addEventListener(
      "drop",
      (event) => {
        event.preventDefault();
        conversation.classList.remove("dropping");
        const file = event.dataTransfer?.files[0];
        if (file) void this.sendAttachment(file);
      },
      { signal },
    );
    $("messages").addEventListener(
      "click",
      (event) => {
        const blobId = (event.target as HTMLElement).closest<HTMLElement>("[data-blob]")?.dataset.blob;
        const attachment = blobId ? this.attachmentOf(blobId) : undefined;
        if (attachment) void this.media.open(attachment);
      },
      { signal },
    );
  }

  private open(chatId: string): void {
    if (this.state.select(chatId)) void this.post({ kind: "read", chatId });
    void saveChats(this.state.version, this.state.profile, this.state.takeChanged());
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
    // Back to the tab: what arrived in the open chat while it was hidden is read now.
    document.addEventListener(
      "visibilitychange",
      () => {
        this.readOpenChat();
        void saveChats(this.state.version, this.state.profile, this.state.takeChanged());
        this.queueRender();
      },
      { signal },
    );
    offerNotifications(signal);
  }

  // --- redrawing --------------------------------------------------------------

  private render(): void {
    renderChats(this.state);
    const unread = this.state.unreadTotal();
    document.title = unread > 0 ? `(${unread}) QR Link` : "QR Link";
  }

  private queueRender(): void {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      this.render();
    });
  }
}
