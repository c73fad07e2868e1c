// The chats this browser has been shown, kept beside its link at the version
// of the phone's change log they describe: a reload draws them at once and
// asks the phone only for what came after. A chat is a record of its own, so
// applying a change rewrites the chats it touched, not all of them; only the
// tab holding the link writes (writer-guarded-store.ts).
import type { ChatView, Profile, SavedChats } from "./chat-state";
import { linkDatabase } from "./link-store";

const CHAT_PREFIX = "chat:";
const SYNC_KEY = "sync";

export async function loadChats(): Promise<SavedChats> {
  const sync = await linkDatabase.get<{ version: number; profile: Profile | null }>(SYNC_KEY);
  return { version: sync?.version ?? 0, profile: sync?.profile ?? null, chats: await linkDatabase.getAll<ChatView>(CHAT_PREFIX) };
}

/** The changed chats and the version they are at, in one transaction: never a version without its chats. */
export function saveChats(version: number, profile: Profile | null, changed: ChatView[]): Promise<void> {
  return linkDatabase.putAll([[SYNC_KEY, { version, profile }], ...changed.map((view): [string, ChatView] => [`${CHAT_PREFIX}${view.chat.id}`, view])]);
}
