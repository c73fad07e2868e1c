// What this browser keeps of its link, in IndexedDB, so a reload resumes
// without a rescan. The keys are non-extractable CryptoKeys: script on this
// origin can use them, nothing can read them out.
import type { AccountInfo } from "../../shared/protocol";
import type { ChannelKeys, ChannelState } from "../../shared/relay-channel";
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
}

/**
 * The IndexedDB store the link and the chats shown (chat-store.ts) live in;
 * only the tab holding the tab lock writes it (writer-guarded-store.ts).
 */
export const linkDatabase = new WriterGuardedStore("qr-link", "link");
const KEY = "current";

/** Makes this tab the one that writes the link; call it once the tab holds the tab lock, before loading. */
export function claimLinkWriter(): Promise<void> {
  return linkDatabase.claim();
}

export async function loadLink(): Promise<StoredLink | null> {
  return (await linkDatabase.get<StoredLink>(KEY)) ?? null;
}

/** Throws LostWriterError when another tab took the link over. */
export function saveLink(link: StoredLink): Promise<void> {
  return linkDatabase.put(KEY, link);
}

/** Forgets the link: keys, counters, the chats shown and the photos and files kept (media-cache.ts). */
export function clearLink(): Promise<void> {
  return linkDatabase.clear();
}
