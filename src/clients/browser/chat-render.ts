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

function timeOf(at: number): string {
  return new Date(at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
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

export function renderChats(state: ChatState): void {
  const list = $("chat-list");
  list.replaceChildren(...state.list().map((view) => chatItem(view, view.chat.id === state.selected, state.typing(view.chat.id))));
  list.dataset.count = String(state.list().length);
  const view = state.selected ? state.chat(state.selected) : undefined;
  const loading = !state.synced;
  const title = $("conversation-title");
  title.textContent = view ? view.chat.title : loading ? "Loading chats from your phone…" : "Select a chat";
  const typist = view ? state.typing(view.chat.id) : null;
  if (typist) title.append(element("small", "typing", view!.chat.group ? ` ${typist} is typing…` : " typing…"));
  $<HTMLInputElement>("composer-input").disabled = !view;
  const messages = $("messages");
  const atBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 40;
  messages.replaceChildren(...(view?.messages ?? []).map((message) => messageBubble(message, view!.chat.group)));
  if (atBottom || view) messages.scrollTop = messages.scrollHeight;
}

function chatItem(view: ChatView, selected: boolean, typist: string | null): HTMLElement {
  const item = element("li", `chat-item${selected ? " selected" : ""}`);
  item.dataset.chat = view.chat.id;
  const last = view.messages.at(-1);
  const body = element("div", "chat-item-body");
  const top = element("div", "chat-item-top");
  top.append(element("span", "chat-title", view.chat.title), element("time", "chat-time", last ? timeOf(last.at) : ""));
  const bottom = element("div", "chat-item-bottom");
  const preview = last ? `${last.from === "me" ? "" : view.chat.group ? `${last.from.split(" ")[0]}: ` : ""}${last.text || attachmentLabel(last)}` : "";
  bottom.append(typist ? element("span", "chat-preview typing", view.chat.group ? `${typist} is typing…` : "typing…") : element("span", "chat-preview", preview));
  if (view.unread > 0) bottom.append(element("span", "unread", String(view.unread)));
  body.append(top, bottom);
  item.append(element("span", "avatar", initials(view.chat.title)), body);
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
