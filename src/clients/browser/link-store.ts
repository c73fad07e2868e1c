// What this browser keeps of its link, in IndexedDB, so a reload resumes
// without a rescan. The keys are non-extractable CryptoKeys: script on this
// origin can use them, nothing can read them out.
import type { AccountInfo, ChatMessage } from "../../shared/protocol";
import type { ChannelKeys, ChannelState } from "../../shared/relay-channel";
import type { ChatView } from "./chat-state";
import { WriterGuardedStore } from "./writer-guarded-store";

export interface StoredLink {
  sessionId: string;
  /**
   * The relay's address (`/api/links/:linkId/browser`), from `linked`. Absent
   * from links made before link ids existed, which resume at the session id.
   */
  linkId?: string;
  account: AccountInfo;
  /** The private half of the device key; signs the server's challenge on resume. */
  deviceKey: CryptoKey;
  keys: ChannelKeys;
  channel: ChannelState;
  /** Typed while the phone was away; sent in order when it is back. */
  outbox: ChatMessage[];
  /** Sent, not yet confirmed by the phone: the relay seq that carries each. */
  posted: { seq: number; message: ChatMessage }[];
}

/** The IndexedDB store the link lives in; only the tab holding the tab lock writes it (writer-guarded-store.ts). */
const database = new WriterGuardedStore("qr-link", "link");
const KEY = "current";
/** The last chats shown, kept apart from the link so a frame's save does not rewrite them. */
const VIEW_KEY = "view";

/** Makes this tab the one that writes the link; call it once the tab holds the tab lock, before loading. */
export function claimLinkWriter(): Promise<void> {
  return database.claim();
}

export async function loadLink(): Promise<StoredLink | null> {
  return (await database.get<StoredLink>(KEY)) ?? null;
}

/** Throws LostWriterError when another tab took the link over. */
export function saveLink(link: StoredLink): Promise<void> {
  return database.put(KEY, link);
}

/** Forgets the link: keys, counters, queued messages and the chats shown. */
export function clearLink(): Promise<void> {
  return database.delete(KEY, VIEW_KEY);
}

export async function loadView(): Promise<ChatView[]> {
  return (await database.get<ChatView[]>(VIEW_KEY)) ?? [];
}

export function saveView(chats: ChatView[]): Promise<void> {
  return database.put(VIEW_KEY, chats);
}
