import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ProfileBusyError, ProfileLock } from "../../src/clients/phone-cli/profile-lock";

let dir: string;
let profile: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "qr-link-lock-"));
  profile = join(dir, "phone.json");
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** A lock file as another process would leave it. */
const lockedBy = (pid: number, command: string) => writeFile(`${profile}.lock`, JSON.stringify({ pid, command }));

describe("the profile lock", () => {
  it("is held by one of two takers at once; the other is told who holds it", async () => {
    const results = await Promise.allSettled([ProfileLock.acquire(profile, "online"), ProfileLock.acquire(profile, "link")]);
    expect(results.filter((result) => result.status === "fulfilled")).toHaveLength(1);
    const refusal = results.find((result) => result.status === "rejected")!.reason;
    expect(refusal).toBeInstanceOf(ProfileBusyError);
    expect((refusal as ProfileBusyError).owner.pid).toBe(process.pid);
  });

  it("refuses while the holder lives, naming its pid and what to do", async () => {
    const parent = process.ppid;
    await lockedBy(parent, "online");
    await expect(ProfileLock.acquire(profile, "link")).rejects.toThrow(`The phone is online in another process (pid ${parent}). Stop it there (Ctrl-C) first`);
    await lockedBy(parent, "rotate-key");
    await expect(ProfileLock.acquire(profile, "link")).rejects.toThrow(`Another phone process (pid ${parent}, \`rotate-key\`) is using this profile`);
  });

  it("takes over the lock of a dead process, or an unreadable one", async () => {
    await lockedBy(spawnSync("true").pid, "online");
    const lock = await ProfileLock.acquire(profile, "link");
    expect(JSON.parse(await readFile(`${profile}.lock`, "utf8"))).toEqual({ pid: process.pid, command: "link" });
    await lock.release();
    await writeFile(`${profile}.lock`, "");
    await expect(ProfileLock.acquire(profile, "link")).resolves.toBeInstanceOf(ProfileLock);
  });

  it("stops a process whose lock was taken from it from writing, and its release leaves the new holder's lock", async () => {
    const lock = await ProfileLock.acquire(profile, "online");
    await expect(lock.assertHeld()).resolves.toBeUndefined();
    await lockedBy(process.ppid, "link");
    await expect(lock.assertHeld()).rejects.toThrow("no longer holds");
    await lock.release();
    expect(JSON.parse(await readFile(`${profile}.lock`, "utf8"))).toEqual({ pid: process.ppid, command: "link" });
  });
});
