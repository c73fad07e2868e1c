import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import sharp from "sharp";
import { renderQrPng } from "./qr-image";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevServer, type DevServer } from "./dev-server";
import { linkByTyping, runPhone, SocketBrowser, spawnPhone } from "./phone-cli";

let server: DevServer;
let dir: string;

beforeAll(async () => {
  [server, dir] = await Promise.all([startDevServer(), mkdtemp(join(tmpdir(), "qr-link-cli-"))]);
});
afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

const profile = (name: string) => ["--server", server.url, "--profile", join(dir, `${name}.json`)];
const savedLinks = async (name: string) => Object.keys((JSON.parse(await readFile(join(dir, `${name}.json`), "utf8")) as { links: object }).links);

describe("the phone simulator CLI", () => {
  it("registers a phone, keeps its key private, and refuses a second phone on the same number", async () => {
    const registered = await runPhone(["register", "--number", "+15550001", "--name", "Alice", ...profile("alice")]);
    expect(registered).toMatchObject({ code: 0 });
    expect(registered.stdout).toContain("Registered Alice (+15550001)");
    expect((await stat(join(dir, "alice.json"))).mode & 0o777).toBe(0o600);

    const intruder = await runPhone(["register", "--number", "+15550001", "--name", "Mallory", ...profile("mallory")]);
    expect(intruder.code).toBe(1);
    expect(intruder.stderr).toContain("number_taken");
  });

  it("links a browser from the QR text: shows the device, asks for the number the browser shows, and the browser checks the MAC", async () => {
    await runPhone(["register", "--number", "+15550002", "--name", "Bob", ...profile("bob")]);
    const browser = await SocketBrowser.open(server.url);
    const linked = await linkByTyping([await browser.qrText(), "--once", ...profile("bob")], () => browser.shownNumber());
    expect(linked.stderr).toBe("");
    expect(linked.shown).toMatch(/^\d{2}$/);
    expect(linked.stdout).toMatch(/Device: +Unknown browser on unknown OS \(reported by the browser\)/);
    expect(linked.stdout).toMatch(/Place: +unknown \(IP 127\.0\.0\.x\)/);
    expect(linked.stdout).toMatch(/WARNING: +place unknown/);
    expect(linked.stdout).toContain("To link it to Bob (+15550002), type the number the computer shows (n to reject):");
    expect(linked.stdout).toContain("Linked: the browser now shows Bob (+15550002).");

    const message = await browser.waitFor("linked");
    expect(message.phonePublicKey).toBe((await browser.waitFor("scanned")).phonePublicKey);
    expect(message.account).toEqual({ number: "+15550002", name: "Bob" });
    expect(await browser.pairing.verifyLinked(browser.sessionId, message)).not.toBeNull();
    // The phone keeps the relay's address it was given, the same as the browser's: the link id, not the session id in the QR.
    const saved = JSON.parse(await readFile(join(dir, "bob.json"), "utf8")) as { links: Record<string, { sessionId: string; linkId?: string }> };
    expect(saved.links[browser.sessionId]).toMatchObject({ sessionId: browser.sessionId, linkId: message.linkId });
    browser.close();
  });

  it("asks before linking, and a 'no' rejects so the browser gets a fresh code", async () => {
    await runPhone(["register", "--number", "+15550003", "--name", "Carol", ...profile("carol")]);
    const browser = await SocketBrowser.open(server.url);
    const answered = await runPhone(["link", await browser.qrText(), ...profile("carol")], "n\n");
    expect(answered.stdout).toContain("To link it to Carol (+15550003), type the number the computer shows (n to reject):");
    expect(answered.stdout).toContain("Rejected");
    expect(await browser.waitFor("ended")).toEqual({ type: "ended", reason: "rejected" });
  });

  it("ends the session when the number typed is not the one the browser shows, and the browser is told", async () => {
    const browser = await SocketBrowser.open(server.url);
    const wrong = (shown: string) => String((Number(shown) + 1) % 100).padStart(2, "0");
    const typed = await linkByTyping([await browser.qrText(), "--once", ...profile("carol")], () => browser.shownNumber(), wrong);
    expect(typed.code).toBe(1);
    expect(typed.stdout).toContain("That is not the number on the computer: nothing was linked");
    expect(await browser.waitFor("ended")).toEqual({ type: "ended", reason: "wrong_number" });
    expect(browser.messages.some((message) => message.type === "linked")).toBe(false);
    expect((await runPhone(["devices", ...profile("carol")])).stdout).toContain("No linked devices.");
  });

  it("lists the linked devices and revokes one, which ends that browser's session", async () => {
    await runPhone(["register", "--number", "+15550004", "--name", "Dave", ...profile("dave")]);
    const browser = await SocketBrowser.open(server.url);
    await linkByTyping([await browser.qrText(), "--once", ...profile("dave")], () => browser.shownNumber());
    await browser.waitFor("linked");

    const listed = await runPhone(["devices", ...profile("dave")]);
    expect(listed.stdout).toContain("Linked devices (1 of 4):");
    expect(listed.stdout).toMatch(new RegExp(`${browser.sessionId}  Unknown browser on unknown OS, unknown; linked just now`));

    const revoked = await runPhone(["revoke", browser.sessionId, ...profile("dave")]);
    expect(revoked.stdout).toContain(`Logged out ${browser.sessionId}`);
    expect(await browser.waitFor("ended")).toEqual({ type: "ended", reason: "revoked" });
    expect((await runPhone(["devices", ...profile("dave")])).stdout).toContain("No linked devices.");
    const again = await runPhone(["revoke", browser.sessionId, ...profile("dave")]);
    expect(again.stderr).toContain(`no linked device "${browser.sessionId}": this phone has no linked devices`);
  });

  it("explains a bad QR text, a QR for another server and a missing profile", async () => {
    const garbage = await runPhone(["link", "https://example.com/link#nope", ...profile("bob")]);
    expect(garbage.code).toBe(1);
    expect(garbage.stderr).toContain("link needs the QR text");

    const browser = await SocketBrowser.open(server.url);
    const foreign = (await browser.qrText()).replace(server.url, "https://elsewhere.example");
    const elsewhere = await runPhone(["link", foreign, ...profile("bob")]);
    expect(elsewhere.stderr).toContain("this QR code is for https://elsewhere.example");

    const missing = await runPhone(["link", await browser.qrText(), ...profile("nobody")]);
    expect(missing.stderr).toContain("no phone profile at");

    const hurried = await runPhone(["link", await browser.qrText(), "--yes", ...profile("bob")]);
    expect(hurried.stderr).toContain("--yes is gone: link by typing the number the computer shows");
    expect(browser.messages.some((message) => message.type === "scanned")).toBe(false);
    browser.close();
  });

  it("reads --image in any common picture format, and says what is wrong with a missing file or a picture without a code", async () => {
    for (const format of ["jpeg", "webp"] as const) {
      const browser = await SocketBrowser.open(server.url);
      const path = join(dir, `code.${format}`);
      await sharp(await renderQrPng(await browser.qrText())).toFormat(format, { quality: 70 }).toFile(path);
      const rejected = await runPhone(["link", "--image", path, "--reject", ...profile("bob")]);
      expect(rejected.stderr, format).toBe("");
      expect(rejected.stdout).toContain("A device asks to be linked");
      expect(await browser.waitFor("ended")).toEqual({ type: "ended", reason: "rejected" });
      browser.close();
    }

    const missing = await runPhone(["link", "--image", join(dir, "nowhere.png"), ...profile("bob")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`there is no file at ${join(dir, "nowhere.png")}: pass the path of a screenshot or photo of the QR code`);
    const blank = join(dir, "blank.jpg");
    await sharp({ create: { width: 200, height: 200, channels: 3, background: "#ffffff" } }).jpeg().toFile(blank);
    expect((await runPhone(["link", "--image", blank, ...profile("bob")])).stderr).toContain(`no QR code found in ${blank}`);
    const notPicture = await runPhone(["link", "--image", "package.json", ...profile("bob")]);
    expect(notPicture.stderr).toContain("package.json is not a picture this phone can read");
  });

  it("takes its server from QR_LINK_SERVER, and names the known devices when asked to revoke another", async () => {
    const fromEnv = await runPhone(["devices", "--profile", join(dir, "dave.json")], "", { QR_LINK_SERVER: server.url });
    expect(fromEnv).toMatchObject({ code: 0, stdout: expect.stringContaining("No linked devices.") });

    const browser = await SocketBrowser.open(server.url);
    await linkByTyping([await browser.qrText(), "--once", ...profile("dave")], () => browser.shownNumber());
    const unknown = await runPhone(["revoke", "nope", ...profile("dave")]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(`no linked device "nope"; this phone's linked devices are:\n  ${browser.sessionId}  Unknown browser on unknown OS, unknown`);
    expect(browser.messages.some((message) => message.type === "ended")).toBe(false);

    const badServer = await runPhone(["devices", "--profile", join(dir, "dave.json")], "", { QR_LINK_SERVER: "127.0.0.1:8787" });
    expect(badServer.stderr).toContain('--server "127.0.0.1:8787" is not an http(s) address');
    browser.close();
  });

  it("refuses a second process that would write the profile of a phone that is online, and the running one goes on", async () => {
    await runPhone(["register", "--number", "+15550005", "--name", "Erin", ...profile("erin")]);
    const first = await SocketBrowser.open(server.url);
    await linkByTyping([await first.qrText(), "--once", ...profile("erin")], () => first.shownNumber());
    const online = spawnPhone(["online", ...profile("erin")]);
    await online.waitForOutput(/connected/, 10_000);
    const holder = JSON.parse(await readFile(join(dir, "erin.json.lock"), "utf8")) as { pid: number; command: string };
    expect(holder.command).toBe("online");
    expect(() => process.kill(holder.pid, 0)).not.toThrow();

    const second = await SocketBrowser.open(server.url);
    const refused = await runPhone(["link", await second.qrText(), "--once", ...profile("erin")]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`The phone is online in another process (pid ${holder.pid}). Stop it there (Ctrl-C) first, then run this again`);
    // Refused before scanning: the second browser still waits, and the profile holds the first link only.
    expect(second.messages.some((message) => message.type === "scanned")).toBe(false);
    expect(await savedLinks("erin")).toEqual([first.sessionId]);
    // Reading still works meanwhile.
    expect((await runPhone(["devices", ...profile("erin")])).stdout).toContain("Linked devices (1 of 4):");

    expect(online.output()).not.toMatch(/connection lost|link ended|stopped/);
    online.interrupt();
    expect(await online.done).toMatchObject({ code: 0, stderr: "" });
    expect(online.output()).toContain("Offline.");
    expect(await savedLinks("erin")).toEqual([first.sessionId]);
    await expect(stat(join(dir, "erin.json.lock"))).rejects.toThrow("ENOENT");
    first.close();
    second.close();
  });

  it("takes over the lock of a process that died without releasing it", async () => {
    const dead = spawnSync("true").pid;
    await writeFile(join(dir, "frank.json.lock"), JSON.stringify({ pid: dead, command: "online" }));
    const registered = await runPhone(["register", "--number", "+15550006", "--name", "Frank", ...profile("frank")]);
    expect(registered).toMatchObject({ code: 0, stderr: "" });
    expect(registered.stdout).toContain("Registered Frank (+15550006)");
    await expect(stat(join(dir, "frank.json.lock"))).rejects.toThrow("ENOENT");
  });
});
