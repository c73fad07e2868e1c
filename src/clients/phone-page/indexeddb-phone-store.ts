// The phone page's PhoneStore in IndexedDB: its identity (a non-extractable
// signing key), its linked browsers and the chat messages added since its
// history was generated. The CLI keeps the same in a file (FilePhoneStore).
import type { PhoneIdentity } from "../phone-core/phone";
import { newBook, upgradeBook } from "../phone-core/chat-book";
import { PhoneStore, type PhoneState } from "../phone-core/phone-store";

interface IndexedDbState extends PhoneState {
  identity: PhoneIdentity;
}

const DATABASE = "qr-link-phone";
const STORE = "phone";
const KEY = "current";

function request<T>(mode: IDBTransactionMode, work: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(DATABASE, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(STORE);
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const transaction = db.transaction(STORE, mode);
      const result = work(transaction.objectStore(STORE));
      transaction.oncomplete = () => {
        db.close();
        resolve(result.result);
      };
      transaction.onerror = () => reject(transaction.error);
    };
  });
}

export class IndexedDbPhoneStore extends PhoneStore {
  private writing: Promise<unknown> = Promise.resolve();

  private constructor(protected readonly state: IndexedDbState) {
    super();
  }

  static async load(): Promise<IndexedDbPhoneStore | null> {
    const state = (await request("readonly", (store) => store.get(KEY))) as IndexedDbState | undefined;
    return state ? new IndexedDbPhoneStore({ ...state, ...upgradeBook(state) }) : null;
  }

  static async create(identity: PhoneIdentity): Promise<IndexedDbPhoneStore> {
    const store = new IndexedDbPhoneStore({ identity, links: {}, ...newBook(identity.number, Date.now()) });
    await store.save();
    return store;
  }

  get identity(): PhoneIdentity {
    return this.state.identity;
  }

  /** Forgets this phone: keys, links, messages. */
  static async clear(): Promise<void> {
    await request("readwrite", (store) => store.delete(KEY));
  }

  protected save(): Promise<void> {
    const write = this.writing.then(() => request("readwrite", (store) => store.put(this.state, KEY)));
    this.writing = write.catch(() => undefined);
    return write.then(() => undefined);
  }
}
