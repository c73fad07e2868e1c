// The chats this browser has been shown, in IndexedDB, at the version of the
// phone's change log they describe: a reload draws them at once and asks the
// phone only for what came after. A chat is a record of its own, so applying
// a change rewrites the chats it touched, not all of them.
import { openDB, type DBSchema, type IDBPDatabase } from "idb";
import type { ChatView, Profile, SavedChats } from "./chat-state";

interface ChatsSchema extends DBSchema {
  chats: { key: string; value: ChatView };
  sync: { key: "current"; value: { version: number; profile: Profile | null } };
}

let database: Promise<IDBPDatabase<ChatsSchema>> | null = null;

function open(): Promise<IDBPDatabase<ChatsSchema>> {
  database ??= openDB<ChatsSchema>("qr-link-chats", 1, {
    upgrade(db) {
      db.createObjectStore("chats", { keyPath: "chat.id" });
      db.createObjectStore("sync");
    },
  });
  return database;
}

export async function loadChats(): Promise<SavedChats> {
  const db = await open();
  const sync = await db.get("sync", "current");
  return { version: sync?.version ?? 0, profile: sync?.profile ?? null, chats: await db.getAll("chats") };
}

/** The changed chats and the version they are at, in one transaction: never a version without its chats. */
export async function saveChats(version: number, profile: Profile | null, changed: ChatView[]): Promise<void> {
  const db = await open();
  const transaction = db.transaction(["chats", "sync"], "readwrite");
  await Promise.all([...changed.map((view) => transaction.objectStore("chats").put(view)), transaction.objectStore("sync").put({ version, profile }, "current"), transaction.done]);
}

export async function clearChats(): Promise<void> {
  const db = await open();
  const transaction = db.transaction(["chats", "sync"], "readwrite");
  await Promise.all([transaction.objectStore("chats").clear(), transaction.objectStore("sync").clear(), transaction.done]);
}
