// What this browser keeps of its link, in IndexedDB, so a reload resumes
// without a rescan. The keys are non-extractable CryptoKeys: script on this
// origin can use them, nothing can read them out.
import type { AccountInfo } from "../../shared/protocol";
import type { ChannelKeys, ChannelState } from "../../shared/relay-channel";
import { clearChats } from "./chat-store";

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

const DATABASE = "qr-link";
const STORE = "link";
const KEY = "current";

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DATABASE, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function run<T>(mode: IDBTransactionMode, work: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open();
  try {
    return await new Promise<T>((resolve, reject) => {
      const transaction = db.transaction(STORE, mode);
      const request = work(transaction.objectStore(STORE));
      transaction.oncomplete = () => resolve(request.result);
      transaction.onerror = () => reject(transaction.error);
    });
  } finally {
    db.close();
  }
}

export async function loadLink(): Promise<StoredLink | null> {
  return ((await run("readonly", (store) => store.get(KEY))) as StoredLink | undefined) ?? null;
}

export async function saveLink(link: StoredLink): Promise<void> {
  await run("readwrite", (store) => store.put(link, KEY));
}

/** Forgets the link: keys, counters, queued messages and the chats shown. */
export async function clearLink(): Promise<void> {
  await run("readwrite", (store) => store.delete(KEY));
  await clearChats();
}
