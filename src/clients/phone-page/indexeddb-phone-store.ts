// The phone page's state in IndexedDB: its identity (a non-extractable
// signing key), its linked browsers and the chat messages added since its
// history was generated. The same PhoneStore the CLI keeps in a file.
import type { PhoneIdentity } from "../phone-core/phone";
import { StoredPhone, type PhoneState } from "../phone-core/stored-phone";

interface PageState extends PhoneState {
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

export class PagePhoneStore extends StoredPhone {
  private writing: Promise<unknown> = Promise.resolve();

  private constructor(protected readonly state: PageState) {
    super();
  }

  static async load(): Promise<PagePhoneStore | null> {
    const state = (await request("readonly", (store) => store.get(KEY))) as PageState | undefined;
    return state ? new PagePhoneStore(state) : null;
  }

  static async create(identity: PhoneIdentity): Promise<PagePhoneStore> {
    const store = new PagePhoneStore({ identity, number: identity.number, createdAt: Date.now(), links: {}, added: [], read: [] });
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
