// One writer per profile: a CLI phone process that writes its profile holds
// `<profile>.lock`, a file created exclusively that names its pid and
// command. A second writer is refused while that pid lives; a lock left by a
// process that died is taken over.
import { link, readFile, rename, rm, writeFile } from "node:fs/promises";

interface LockOwner {
  pid: number;
  command: string;
}

/** Another live process holds the profile. */
export class ProfileBusyError extends Error {
  constructor(
    readonly owner: LockOwner,
    lockPath: string,
  ) {
    super(
      owner.command === "online"
        ? `The phone is online in another process (pid ${owner.pid}). Stop it there (Ctrl-C) first, then run this again; \`devices\` works meanwhile.`
        : `Another phone process (pid ${owner.pid}, \`${owner.command}\`) is using this profile. Let it finish or stop it first, then run this again.` +
            ` If no such process is running, remove ${lockPath}.`,
    );
  }
}

export class ProfileLock {
  private constructor(
    readonly path: string,
    private readonly owner: LockOwner,
  ) {}

  /** Takes the lock on `profile` for this process, or throws ProfileBusyError. */
  static async acquire(profile: string, command: string): Promise<ProfileLock> {
    const lock = new ProfileLock(`${profile}.lock`, { pid: process.pid, command });
    // Twice at most: once more after moving a dead process's lock out of the way.
    for (let attempt = 0; attempt < 2; attempt++) {
      if (await lock.create()) return lock;
      const holder = await readOwner(lock.path);
      if (holder && isAlive(holder.pid)) throw new ProfileBusyError(holder, lock.path);
      await lock.removeStale(holder);
    }
    throw new ProfileBusyError((await readOwner(lock.path)) ?? { pid: 0, command: "unknown" }, lock.path);
  }

  /** Throws unless the lock file still names this process, so a process that lost it never writes. */
  async assertHeld(): Promise<void> {
    const holder = await readOwner(this.path);
    if (holder?.pid !== this.owner.pid) throw new Error(`this process no longer holds ${this.path}, so it does not write the profile`);
  }

  async release(): Promise<void> {
    if ((await readOwner(this.path))?.pid === this.owner.pid) await rm(this.path, { force: true });
  }

  /** Writes the lock whole beside it, then links it into place: `link` fails if a lock exists, and nobody ever reads half a lock. */
  private async create(): Promise<boolean> {
    const written = `${this.path}.${crypto.randomUUID()}`;
    await writeFile(written, `${JSON.stringify(this.owner)}\n`, { mode: 0o600 });
    try {
      await link(written, this.path);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw error;
    } finally {
      await rm(written, { force: true });
    }
  }

  /**
   * Moves the dead holder's lock aside and checks what was moved: when two
   * processes take over at once, the second may have moved the first one's
   * fresh lock instead, which it puts back and reports as busy.
   */
  private async removeStale(stale: LockOwner | null): Promise<void> {
    const aside = `${this.path}.${crypto.randomUUID()}`;
    try {
      await rename(this.path, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw error;
    }
    const moved = await readOwner(aside);
    if (moved && moved.pid !== stale?.pid && isAlive(moved.pid)) {
      await rename(aside, this.path);
      throw new ProfileBusyError(moved, this.path);
    }
    await rm(aside, { force: true });
  }
}

async function readOwner(path: string): Promise<LockOwner | null> {
  try {
    const owner = JSON.parse(await readFile(path, "utf8")) as Partial<LockOwner>;
    return Number.isSafeInteger(owner.pid) && (owner.pid ?? 0) > 0 ? { pid: owner.pid!, command: String(owner.command) } : null;
  } catch {
    return null;
  }
}

/** Signal 0 checks that the process exists; EPERM means it does, under another user. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
