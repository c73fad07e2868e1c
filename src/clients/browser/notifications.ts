// Desktop notifications for messages that arrive while the tab is hidden.
// Permission is asked only when the user clicks the offer, never on load.
import type { Chat, ChatMessage } from "../../shared/protocol";
import { $ } from "./dom";

function supported(): boolean {
  return "Notification" in window;
}

/** Shows the "Turn on desktop notifications" button while the user has not decided. */
export function offerNotifications(signal: AbortSignal): void {
  const button = $<HTMLButtonElement>("enable-notifications");
  button.hidden = !supported() || Notification.permission !== "default";
  button.addEventListener(
    "click",
    async () => {
      await Notification.requestPermission();
      button.hidden = true;
    },
    { signal },
  );
}

export function notifyMessage(chat: Chat, message: ChatMessage): void {
  // Visibility first: reading the permission is slow, and a tab catching up may pass a thousand messages.
  if (document.visibilityState !== "hidden" || !supported() || Notification.permission !== "granted") return;
  const body = chat.group ? `${message.from}: ${message.text}` : message.text;
  // One notification per chat: a newer message replaces the older one.
  const notification = new Notification(chat.title, { body, tag: chat.id });
  notification.addEventListener("click", () => {
    window.focus();
    notification.close();
  });
}
