// The linked browser: a window onto the phone. Shows the chats as the phone's
// snapshot and change log describe them, keeps them for the next visit, and
// sends what is typed or read here out through the phone, which tells every
// linked device. The socket is ChatConnection's, the drawing chat-render's.
import { HISTORY_PAGE_LIMIT, parseAppMessage, type AppMessage, type Attachment, type Change, type ChatMessage, type Presence } from "../../shared/protocol";
import { RelayChannel } from "../../shared/relay-channel";
import type { Connection } from "../connection/connection";
import { ChatConnection } from "./chat-connection";
import { ChatMedia } from "./chat-media";
import { announceMessage, bindChatList, drawMoreChats, focusChatInList, renderChats, showAccount, showBanner } from "./chat-render";
import { ChatState } from "./chat-state";
import { forgetUpload, loadChats, loadUpload, loadUploads, saveChats, type PendingUpload } from "./chat-store";
import { $ } from "./dom";
import { clearLink, saveLink, type StoredLink } from "./link-store";
import { notifyMessage, offerNotifications } from "./notifications";

/** A chat opened with fewer messages than this asks the phone for more at once. */
const OPENING_SCREENFUL = 30;
/** Scrolled this close to the top of a conversation, older messages are asked for. */
const NEAR_TOP_PX = 400;

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
  /** The next drawing shows the latest message (after a send here, wherever the reader had scrolled). */
  private scrollToLatest = false;
  private typingTimer: ReturnType<typeof setTimeout> | undefined;
  /** Chats whose older messages were asked for and have not come: each page is asked for once. */
  private readonly historyAsked = new Set<string>();
  /** Removes this screen's listeners when the link ends, so a later link starts clean. */
  private readonly listeners = new AbortController();
  private readonly media: ChatMedia;
  /** Uploads under way in this tab, by message id: a reconnect does not start one twice. */
  private readonly uploading = new Set<string>();
  /** The run of resumeUploads under way, and whether another was asked for meanwhile. */
  private resuming: Promise<void> | null = null;
  private resumeAgain = false;

  constructor(
    private readonly link: StoredLink,
    private readonly onEnded: (notice: string) => void,
  ) {
    this.channel = new RelayChannel(link.sessionId, "to_phone", link.keys, link.channel, () => saveLink(link), {
      message: (plaintext) => this.fromPhone(plaintext),
      tampered: () => showBanner("A message from the phone failed its integrity check and was dropped."),
      failed: (error) => console.error("a message from the phone could not be kept yet; trying again", error),
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
    // A new socket: whatever was asked on the old one is asked again.
    this.catchingUp = false;
    this.historyAsked.clear();
    void this.restored.then(() => this.post(this.state.synced ? { kind: "sync_request", since: this.state.version } : { kind: "sync_request" }));
    // The server is reachable again (or the page was opened again): uploads that were cut off go on.
    void this.restored.then(() => this.resumeUploads());
    // The server may not have heard of every file kept here: it deletes one only once it has.
    this.media.acknowledgeKept();
  }

  /** Another tab took the link over: this one closes its socket and writes nothing more; that tab goes on with the uploads. */
  stop(): void {
    void this.halt("QR Link is open in another window, which goes on with this upload");
  }

  /** Closes the socket and settles once no upload or download here can write any more. */
  private halt(reason: string): Promise<void> {
    this.finished = true;
    this.listeners.abort();
    this.connection.close();
    document.title = "QR Link";
    return this.media.stop(reason);
  }

  /** The link ended (logged out here or on the phone): forgets it only once nothing here can write it back. */
  private async end(notice: string): Promise<void> {
    if (this.finished) return;
    await this.halt("This browser is no longer linked");
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
      if (!this.catchingUp) void this.post({ kind: "sync_request", since: this.state.version, gap: true });
      this.catchingUp = true;
    } else if (message.kind === "changes" || message.kind === "synced") {
      this.catchingUp = false;
    }
    if (message.kind === "history") this.historyAsked.delete(message.chatId);
    if (message.kind === "changes") {
      const applied = message.changes.filter((change) => change.version > before && change.version <= this.state.version);
      this.announce(applied);
      for (const change of applied) if (change.type === "message" && change.message.attachment) this.media.receive(change.message.attachment);
    }
    if (message.kind === "typing") this.expireTypingLater();
    if (message.kind === "synced" && !this.state.selected) {
      const first = this.state.list()[0];
      if (first) this.state.selected = first.chat.id;
    }
    this.readOpenChat();
    await saveChats(this.state.version, this.state.profile, this.state.takeChanged());
    // The title now: a hidden tab draws no frames, and its title is what tells of new messages.
    this.showUnreadInTitle();
    this.queueRender();
  }

  /** A contact's new message: said to screen readers in the open chat, and a desktop notification while this tab is hidden, if the user allowed them. */
  private announce(applied: Change[]): void {
    for (const change of applied) {
      if (change.type !== "message" || change.message.from === "me") continue;
      if (change.message.chatId === this.state.selected) announceMessage(change.message.from, change.message.text);
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
    this.scrollToLatest = true;
    this.queueRender();
    await this.post({ kind: "send", message });
  }

  /**
   * Asks the phone for the open chat's messages before the oldest here, when
   * it has more: on opening a chat that shows fewer than a screenful, and on
   * scrolling near the top. Each page is asked for once.
   */
  private loadOlder(): void {
    const chatId = this.state.selected;
    const view = chatId ? this.state.chat(chatId) : undefined;
    if (!chatId || !view?.hasOlder || this.historyAsked.has(chatId)) return;
    this.historyAsked.add(chatId);
    const before = this.state.oldestLogged(chatId);
    void this.post({ kind: "history_request", chatId, limit: HISTORY_PAGE_LIMIT, ...(before ? { before } : {}) });
  }

  /**
   * A photo or file attached here: kept (a reload resumes it), uploaded, then
   * sent like any message, so it reaches every device through the phone. Its
   * upload is this tab's from before it is kept: a resume run that finds it
   * leaves it alone.
   */
  private async sendAttachment(file: File): Promise<void> {
    const chatId = this.state.selected;
    if (!chatId) return;
    const input = $<HTMLInputElement>("composer-input");
    const id = crypto.randomUUID();
    this.uploading.add(id);
    try {
      const upload = await this.media.prepareUpload(file, { id, chatId, text: input.value.trim(), at: Date.now() });
      if (!upload) return;
      input.value = "";
      await this.uploadAndSend(upload, file);
    } finally {
      this.uploading.delete(id);
    }
  }

  /**
   * The uploads kept from before (a reload, a crashed tab, a dropped
   * connection), oldest first. One run at a time: a run asked for while one
   * is under way (the relay back and the browser online at once) runs once
   * more after it, from a fresh list.
   */
  private resumeUploads(): Promise<void> {
    if (this.resuming) {
      this.resumeAgain = true;
      return this.resuming;
    }
    this.resuming = (async () => {
      do {
        this.resumeAgain = false;
        for (const { message } of await loadUploads()) if (!this.finished) await this.finishUpload(message.id);
      } while (this.resumeAgain && !this.finished);
    })().finally(() => (this.resuming = null));
    return this.resuming;
  }

  /** Goes on with a kept upload unless this tab is already on it; read again once it is this tab's, so it is never a stale copy, nor one already sent. */
  private async finishUpload(id: string): Promise<void> {
    if (this.uploading.has(id)) return;
    this.uploading.add(id);
    try {
      const upload = await loadUpload(id);
      if (upload) await this.uploadAndSend(upload);
    } finally {
      this.uploading.delete(id);
    }
  }

  /**
   * Uploads a kept file (or goes on with it), then sends its message and
   * forgets the upload. A message already saved here was uploaded before the
   * tab went: it is sent again as it is (the phone keeps a message id once).
   */
  private async uploadAndSend(upload: PendingUpload, attached?: File): Promise<void> {
    const { id, chatId } = upload.message;
    const saved = this.state.chat(chatId)?.messages.find((message) => message.id === id);
    const attachment = saved?.attachment ?? (await this.media.upload(upload, attached));
    if (!attachment || this.finished) return;
    const message: ChatMessage = { ...upload.message, from: "me", attachment };
    this.state.addPending(message);
    await saveChats(this.state.version, this.state.profile, this.state.takeChanged());
    this.scrollToLatest = true;
    this.queueRender();
    await this.post({ kind: "send", message });
    await forgetUpload(id);
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

  /** Opens a chat (on a narrow screen, in place of the list) and puts the cursor in its message box. */
  private open(chatId: string): void {
    if (this.state.select(chatId)) void this.post({ kind: "read", chatId });
    if ((this.state.chat(chatId)?.messages.length ?? 0) < OPENING_SCREENFUL) this.loadOlder();
    void saveChats(this.state.version, this.state.profile, this.state.takeChanged());
    $("chat-app").dataset.view = "chat";
    this.render();
    $("composer-input").focus();
  }

  /** Back to the list on a narrow screen, on the chat that was open. */
  private backToList(): void {
    $("chat-app").dataset.view = "list";
    focusChatInList(this.state.selected);
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
    bindChatList($("chat-list"), (chatId) => this.open(chatId), signal);
    $("back-to-chats").addEventListener("click", () => this.backToList(), { signal });
    $("logout").addEventListener(
      "click",
      () => {
        this.connection.logout();
        // If the server cannot be reached, this browser still forgets the link.
        setTimeout(() => void this.end("You logged out."), 3_000);
      },
      { signal },
    );
    const messages = $("messages");
    messages.addEventListener("scroll", () => messages.scrollTop < NEAR_TOP_PX && this.loadOlder(), { signal, passive: true });
    const list = $("chat-list");
    list.addEventListener("scroll", () => list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_TOP_PX && drawMoreChats(this.state) && this.queueRender(), { signal, passive: true });
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
    // The browser is online again: uploads that stopped go on (the relay's return does the same).
    window.addEventListener("online", () => void this.restored.then(() => this.resumeUploads()), { signal });
    offerNotifications(signal);
  }

  // --- redrawing --------------------------------------------------------------

  private render(): void {
    renderChats(this.state);
    if (this.scrollToLatest) $("messages").scrollTop = $("messages").scrollHeight;
    this.scrollToLatest = false;
    this.showUnreadInTitle();
  }

  private showUnreadInTitle(): void {
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
