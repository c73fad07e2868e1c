// The chat screen's DOM: the account header, the banner, the chat list and
// the open conversation, drawn from ChatState. Nothing here talks to the relay.
import type { AccountInfo, Attachment } from "../../shared/protocol";
import type { ChatState, ChatView, Delivery, ViewMessage } from "./chat-state";
import { $ } from "./dom";

const CLOCK_SVG = '<svg viewBox="0 0 16 16" width="12" height="12" aria-hidden="true"><circle cx="8" cy="8" r="6.5" fill="none" stroke="currentColor" stroke-width="1.5"/><path d="M8 4.5V8l2.5 1.5" fill="none" stroke="currentColor" stroke-width="1.5" stroke-linecap="round"/></svg>';
const TICKS: Record<Delivery, { html: string; label: string }> = {
  pending: { html: CLOCK_SVG, label: "Waiting for the phone" },
  sent: { html: "✓", label: "Sent" },
  delivered: { html: "✓✓", label: "Delivered" },
  read: { html: "✓✓", label: "Read" },
};

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Made once: toLocaleTimeString builds a formatter per call, which a list of thousands of messages feels. */
const TIME_FORMAT = new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit" });

function timeOf(at: number): string {
  return TIME_FORMAT.format(at);
}

function initials(name: string): string {
  return name.split(/\s+/).slice(0, 2).map((part) => part[0] ?? "").join("").toUpperCase();
}

/** Switches the page to the chat screen, headed by the linked account. */
export function showAccount(account: AccountInfo): void {
  document.body.dataset.state = "chat";
  $("me-name").textContent = account.name;
  $("me-number").textContent = account.number;
  $("me-avatar").textContent = initials(account.name);
}

export function showBanner(text: string | null): void {
  const banner = $("phone-banner");
  banner.hidden = text === null;
  banner.textContent = text ?? "";
}

/** The chat list draws this many rows at first, and this many more each time it is scrolled near its end (a phone may have thousands). */
const CHAT_ROWS_STEP = 100;
let chatRows = CHAT_ROWS_STEP;
/** What the drawn rows showed, so a drawing that changes none of them leaves the list alone. */
let drawnRows = "";

/** The list was scrolled near its end: draw more rows next time; false when all are drawn. */
export function drawMoreChats(state: ChatState): boolean {
  if (chatRows >= state.list().length) return false;
  chatRows += CHAT_ROWS_STEP;
  return true;
}

/** Says a new message in the open chat to screen readers, without re-reading the conversation. */
export function announceMessage(from: string, text: string): void {
  $("message-announcer").textContent = `Message from ${from}: ${text}`;
}

const chatItemOf = (list: HTMLElement, chatId: string | null | undefined) => (chatId ? list.querySelector<HTMLElement>(`[data-chat="${CSS.escape(chatId)}"]`) : null);

/**
 * The chat list as a listbox: one Tab stop (the focused chat, else the open
 * one), arrow keys, Home and End move, Enter or Space (or a click) opens.
 */
export function bindChatList(list: HTMLElement, open: (chatId: string) => void, signal?: AbortSignal): void {
  list.addEventListener(
    "click",
    (event) => {
      const item = (event.target as HTMLElement).closest<HTMLElement>("[data-chat]");
      if (item?.dataset.chat) open(item.dataset.chat);
    },
    { signal },
  );
  list.addEventListener(
    "keydown",
    (event) => {
      const items = [...list.querySelectorAll<HTMLElement>("[data-chat]")];
      const at = items.indexOf(document.activeElement as HTMLElement);
      if (at < 0) return;
      const moveTo = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: items.length - 1 }[event.key];
      if (moveTo !== undefined) {
        event.preventDefault();
        focusChat(items, Math.max(0, Math.min(items.length - 1, moveTo)));
      } else if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        open(items[at]!.dataset.chat!);
      }
    },
    { signal },
  );
}

function focusChat(items: HTMLElement[], index: number): void {
  for (const [position, item] of items.entries()) item.tabIndex = position === index ? 0 : -1;
  items[index]?.focus();
}

/** Puts focus on a chat in the list, or on its first (back from a conversation on a narrow screen). */
export function focusChatInList(chatId: string | null): void {
  const list = $("chat-list");
  const items = [...list.querySelectorAll<HTMLElement>("[data-chat]")];
  focusChat(items, Math.max(0, items.indexOf(chatItemOf(list, chatId)!)));
}

export function renderChats(state: ChatState): void {
  // The conversation's geometry before anything here changes the page: read after a change, it would lay the page out once more.
  const messages = $("messages");
  const [heightBefore, topBefore] = [messages.scrollHeight, messages.scrollTop];
  const atBottom = heightBefore - topBefore - messages.clientHeight < 40;
  const list = $("chat-list");
  const all = state.list();
  const rows = all.slice(0, chatRows).map((view) => ({ view, selected: view.chat.id === state.selected, typist: state.typing(view.chat.id) }));
  const shown = rows.map(({ view, selected, typist }) => `${view.chat.id} ${view.messages.at(-1)?.id} ${view.messages.at(-1)?.status} ${view.unread} ${selected} ${typist}`).join("\n");
  if (shown !== drawnRows || !list.firstChild) {
    const focused = list.contains(document.activeElement) ? (document.activeElement as HTMLElement).dataset.chat : undefined;
    list.replaceChildren(...rows.map(({ view, selected, typist }) => chatItem(view, selected, typist)));
    const stop = chatItemOf(list, focused) ?? chatItemOf(list, state.selected) ?? list.querySelector<HTMLElement>("[data-chat]");
    if (stop) stop.tabIndex = 0;
    if (focused) stop?.focus();
    // The list re-sorts (a send moves a chat to the top): the open chat stays in view.
    const selectedAt = String(all.findIndex((view) => view.chat.id === state.selected));
    if (!focused && selectedAt !== list.dataset.selectedAt) chatItemOf(list, state.selected)?.scrollIntoView({ block: "nearest" });
    list.dataset.selectedAt = selectedAt;
  }
  drawnRows = shown;
  list.dataset.count = String(all.length);
  const view = state.selected ? state.chat(state.selected) : undefined;
  const loading = !state.synced;
  const title = $("conversation-title");
  title.textContent = view ? view.chat.title : loading ? "Loading chats from your phone…" : "Select a chat";
  const typist = view ? state.typing(view.chat.id) : null;
  if (typist) title.append(element("small", "typing", view!.chat.group ? ` ${typist} is typing…` : " typing…"));
  $<HTMLInputElement>("composer-input").disabled = !view;
  // Another chat, or the reader at the bottom: show the latest. Older messages put before: keep what the reader sees in place.
  const sameChat = view !== undefined && messages.dataset.chat === view.chat.id;
  const firstBefore = messages.firstElementChild?.getAttribute("data-id");
  messages.dataset.chat = view?.chat.id ?? "";
  if (!drawMessages(messages, view)) return;
  if (!sameChat || atBottom) messages.scrollTop = messages.scrollHeight;
  else if (messages.firstElementChild?.getAttribute("data-id") !== firstBefore) messages.scrollTop = topBefore + messages.scrollHeight - heightBefore;
}

/** What the conversation shows: its chat, and each message's id and ticks in order. */
let drawnMessages: { chatId: string; ids: string[]; statuses: string[] } = { chatId: "", ids: [], statuses: [] };

const sameList = (x: readonly string[], y: readonly string[], offset = 0) => x.every((item, i) => item === y[offset + i]);

/**
 * Draws the open chat's messages, adding only what is new when older
 * messages came before them (scrolling back) or newer ones after (a chat
 * going on), and redrawing only the bubbles whose ticks changed when the
 * messages are the same: a long conversation is not rebuilt for every page,
 * message or tick. False when it shows what it showed.
 */
function drawMessages(messages: HTMLElement, view: ChatView | undefined): boolean {
  const shown = view?.messages ?? [];
  const ids = shown.map((message) => message.id);
  const statuses = shown.map((message) => message.status ?? "");
  const before = drawnMessages;
  drawnMessages = { chatId: view?.chat.id ?? "", ids, statuses };
  const bubble = (message: ViewMessage) => messageBubble(message, view!.chat.group);
  const bubbles = (from: number, to: number) => shown.slice(from, to).map(bubble);
  if (view && before.chatId === view.chat.id && messages.childElementCount === before.ids.length) {
    const added = ids.length - before.ids.length;
    const unchanged = (offset: number) => sameList(before.ids, ids, offset) && sameList(before.statuses, statuses, offset);
    if (added === 0 && sameList(before.ids, ids)) {
      const changed = statuses.flatMap((status, at) => (status === before.statuses[at] ? [] : [at]));
      for (const at of changed) messages.children[at]!.replaceWith(bubble(shown[at]!));
      return changed.length > 0;
    }
    if (added > 0 && unchanged(added)) {
      messages.prepend(...bubbles(0, added));
      return true;
    }
    if (added > 0 && unchanged(0)) {
      messages.append(...bubbles(before.ids.length, ids.length));
      return true;
    }
  }
  messages.replaceChildren(...bubbles(0, ids.length));
  return true;
}

function chatItem(view: ChatView, selected: boolean, typist: string | null): HTMLElement {
  const item = element("li", `chat-item${selected ? " selected" : ""}`);
  item.dataset.chat = view.chat.id;
  item.setAttribute("role", "option");
  item.setAttribute("aria-selected", String(selected));
  item.tabIndex = -1;
  const last = view.messages.at(-1);
  const body = element("div", "chat-item-body");
  const top = element("div", "chat-item-top");
  top.append(element("span", "chat-title", view.chat.title), element("time", "chat-time", last ? timeOf(last.at) : ""));
  const bottom = element("div", "chat-item-bottom");
  const preview = last ? `${last.from === "me" ? "" : view.chat.group ? `${last.from.split(" ")[0]}: ` : ""}${last.text || attachmentLabel(last)}` : "";
  bottom.append(typist ? element("span", "chat-preview typing", view.chat.group ? `${typist} is typing…` : "typing…") : element("span", "chat-preview", preview));
  if (view.unread > 0) {
    const unread = element("span", "unread", String(view.unread));
    unread.append(element("span", "visually-hidden", " unread"));
    bottom.append(unread);
  }
  body.append(top, bottom);
  const avatar = element("span", "avatar", initials(view.chat.title));
  avatar.setAttribute("aria-hidden", "true");
  item.append(avatar, body);
  return item;
}

function messageBubble(message: ViewMessage, group: boolean): HTMLElement {
  const mine = message.from === "me";
  const bubble = element("li", `bubble ${mine ? "mine" : "theirs"}`);
  bubble.dataset.id = message.id;
  if (group && !mine) bubble.append(element("span", "sender", message.from));
  if (message.attachment) bubble.append(attachmentView(message.attachment));
  if (message.text) bubble.append(element("span", "text", message.text));
  const meta = element("span", "meta", timeOf(message.at));
  if (mine) {
    const status = message.status ?? "sent";
    const tick = element("span", `tick ${status}`);
    tick.innerHTML = TICKS[status].html;
    tick.title = TICKS[status].label;
    tick.setAttribute("aria-label", TICKS[status].label);
    bubble.dataset.status = status;
    meta.append(tick);
  }
  bubble.append(meta);
  return bubble;
}

/** What a chat's preview says of a message with no text. */
function attachmentLabel(message: ViewMessage): string {
  return message.attachment ? (message.attachment.kind === "photo" ? "📷 Photo" : `📎 ${message.attachment.name}`) : "";
}

/** A photo's thumbnail (opens full size on click), or a file's card with its name, size and a download button; `data-blob` marks what opens it. */
function attachmentView(attachment: Attachment): HTMLElement {
  if (attachment.kind === "photo") {
    const button = element("button", "attachment photo");
    button.type = "button";
    button.dataset.blob = attachment.blobId;
    button.setAttribute("aria-label", `Open photo ${attachment.name}`);
    const image = element("img", "thumbnail");
    image.alt = attachment.name;
    image.width = 192;
    image.height = 128;
    if (attachment.thumbnail) image.src = attachment.thumbnail;
    button.append(image);
    return button;
  }
  const card = element("div", "attachment file");
  const download = element("button", "download", "Download");
  download.type = "button";
  download.dataset.blob = attachment.blobId;
  download.setAttribute("aria-label", `Download ${attachment.name}`);
  card.append(element("span", "file-name", attachment.name), element("span", "file-size", formatBytes(attachment.size)), download);
  return card;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
