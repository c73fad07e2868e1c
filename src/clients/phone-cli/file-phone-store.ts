// The CLI phone's PhoneStore in a file (its profile, `--profile`): its number,
// name and identity key, its linked browsers (with what re-derives their keys
// and their relay counters) and the chat messages added since its history was
// generated. It holds private keys, so it is written owner-only and gitignored.
// Only the process holding the profile's lock writes it (profile-lock.ts).
import { readFile, rename, writeFile } from "node:fs/promises";
import { generateIdentityKeyPair } from "../../shared/crypto";
import type { PhoneIdentity } from "../phone-core/phone";
import { newBook, upgradeBook } from "../phone-core/chat-book";
import type { HistorySize } from "../phone-core/history";
import { PhoneStore, type PhoneState } from "../phone-core/phone-store";
import type { ProfileLock } from "./profile-lock";

interface FileState extends PhoneState {
  name: string;
  publicKey: string;
  privateKey: JsonWebKey;
}

export const DEFAULT_PROFILE = ".qr-link-phone.json";

export class FilePhoneStore extends PhoneStore {
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly path: string,
    protected readonly state: FileState,
    readonly identity: PhoneIdentity,
    /** Null for a reader (`devices`), which never writes. */
    private readonly lock: ProfileLock | null,
  ) {
    super();
  }

  /** Makes a new phone; refuses to overwrite an existing profile file. */
  static async create(path: string, number: string, name: string, lock: ProfileLock, history: HistorySize = "small"): Promise<FilePhoneStore> {
    const pair = await generateIdentityKeyPair(true);
    const file: FileState = {
      ...newBook(number, Date.now(), history),
      name,
      publicKey: pair.publicKey,
      privateKey: await crypto.subtle.exportKey("jwk", pair.privateKey),
      links: {},
    };
    await lock.assertHeld();
    await writeFile(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600, flag: "wx" });
    return new FilePhoneStore(path, file, { number, name, ...pair }, lock);
  }

  /** A writer passes the profile's lock; a reader passes none. */
  static async load(path: string, lock: ProfileLock | null = null): Promise<FilePhoneStore> {
    let file: FileState;
    try {
      file = JSON.parse(await readFile(path, "utf8")) as FileState;
    } catch {
      throw new Error(`no phone profile at ${path}: run \`npm run phone -- register --number <E.164> --name <name>\` first`);
    }
    const privateKey = await crypto.subtle.importKey("jwk", file.privateKey, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
    // A profile from before the change log gets one.
    file = { ...file, ...upgradeBook(file) };
    return new FilePhoneStore(path, file, { number: file.number, name: file.name, publicKey: file.publicKey, privateKey }, lock);
  }

  rename(name: string): Promise<void> {
    this.state.name = name;
    this.identity.name = name;
    return this.save();
  }

  /** Writes one at a time, through a temporary file, so a crash never leaves half a profile; only while holding the lock. */
  protected save(): Promise<void> {
    const lock = this.lock;
    if (!lock) return Promise.reject(new Error(`${this.path} was opened to read only`));
    const write = this.writing.then(async () => {
      await lock.assertHeld();
      const temporary = `${this.path}.tmp`;
      await writeFile(temporary, `${JSON.stringify(this.state, null, 2)}\n`, { mode: 0o600 });
      await rename(temporary, this.path);
    });
    // One failed write is its caller's to handle; the next write still runs (it writes the whole state).
    this.writing = write.catch(() => undefined);
    return write;
  }
}
