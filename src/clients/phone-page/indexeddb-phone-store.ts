// The phone page's PhoneStore in IndexedDB: its identity (a non-extractable
// signing key), its linked browsers and the chat messages added since its
// history was generated. The CLI keeps the same in a file (FilePhoneStore).
import type { PhoneIdentity } from "../phone-core/phone";
import { newBook, upgradeBook } from "../phone-core/chat-book";
import { PhoneStore, type PhoneState } from "../phone-core/phone-store";
import { WriterGuardedStore } from "../browser/writer-guarded-store";

interface IndexedDbState extends PhoneState {
  identity: PhoneIdentity;
}

/** Only the tab holding the phone page's tab lock writes it (writer-guarded-store.ts). */
const database = new WriterGuardedStore("qr-link-phone", "phone");
const KEY = "current";

export class IndexedDbPhoneStore extends PhoneStore {
  private writing: Promise<unknown> = Promise.resolve();

  private constructor(protected readonly state: IndexedDbState) {
    super();
  }

  /** Makes this tab the one that writes the phone; call it once the tab holds the tab lock, before loading. */
  static claimWriter(): Promise<void> {
    return database.claim();
  }

  static async load(): Promise<IndexedDbPhoneStore | null> {
    const state = await database.get<IndexedDbState>(KEY);
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
  static clear(): Promise<void> {
    return database.delete(KEY);
  }

  /** Throws LostWriterError when another tab took the phone over. */
  protected save(): Promise<void> {
    const write = this.writing.then(() => database.put(KEY, this.state));
    this.writing = write.catch(() => undefined);
    return write.then(() => undefined);
  }
}
