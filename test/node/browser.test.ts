// The product as a person meets it: Chromium shows the page, two independent
// decoders read the QR code off a screenshot, and the phone simulator links.
import { mkdtemp, rm } from "node:fs/promises";
import { build as esbuild } from "esbuild";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page, WebSocket } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FilePhoneStore } from "../../src/clients/phone-cli/file-phone-store";
import { Phone } from "../../src/clients/phone-core/phone";
import { HEARTBEAT, MAX_LINKED_DEVICES, parseQrText, serverMessageSchema, type ServerMessage } from "../../src/shared/protocol";
import { decodeWithJsqr, decodeWithZbar, launchChromium, missingTools, pixelAt, saveArtifact } from "./chromium";
import { startDevServer, type DevServer } from "./dev-server";
import { linkByTyping, runPhone, SocketBrowser, spawnPhone } from "./phone-cli";

/** Short periods so rotations and expiry happen within seconds. */
const SCHEDULE = { TOKEN_FIRST_TTL_MS: 4_000, TOKEN_TTL_MS: 3_000, TOKEN_COUNT: 3, TOKEN_GRACE_MS: 1_500, CONFIRM_TIMEOUT_MS: 4_000 };

const skipReason = missingTools();

interface OpenedPage {
  page: Page;
  /** Every message the server sent this page, in order. */
  messages: ServerMessage[];
  /** Every socket the page opened. */
  sockets: WebSocket[];
}

describe.skipIf(skipReason)("QR Link in Chromium", () => {
  let server: DevServer;
  let chromium: Browser;
  let profileDir: string;
  const profile = () => ["--server", server.url, "--profile", join(profileDir, "alice.json")];

  beforeAll(async () => {
    const vars = Object.fromEntries(Object.entries(SCHEDULE).map(([name, value]) => [name, String(value)]));
    [server, chromium, profileDir] = await Promise.all([startDevServer({ vars }), launchChromium(), mkdtemp(join(tmpdir(), "qr-link-e2e-"))]);
    const registered = await runPhone(["register", "--number", "+15550001", "--name", "Alice", ...profile()]);
    expect(registered.code, registered.stderr).toBe(0);
  });

  afterAll(async () => {
    await chromium?.close();
    await server?.stop();
    await rm(profileDir, { recursive: true, force: true });
  });

  async function openPage(colorScheme: "light" | "dark" = "light"): Promise<OpenedPage> {
    const page = await (await chromium.newContext({ colorScheme, viewport: { width: 1280, height: 720 } })).newPage();
    const messages: ServerMessage[] = [];
    const sockets: WebSocket[] = [];
    page.on("websocket", (socket) => {
      sockets.push(socket);
      socket.on("framereceived", ({ payload }) => payload !== HEARTBEAT.response && messages.push(serverMessageSchema.parse(JSON.parse(String(payload)))));
    });
    await page.goto(server.url);
    await page.waitForSelector("body[data-state=pending]", { timeout: 1_000 });
    return { page, messages, sockets };
  }

  const latest = <T extends ServerMessage["type"]>(messages: ServerMessage[], type: T) =>
    messages.filter((message): message is Extract<ServerMessage, { type: T }> => message.type === type).at(-1)!;

  /** The token of the schedule at `seq` (the page is sent them all at once). */
  const tokenAt = (messages: ServerMessage[], seq: number) => messages.filter((message) => message.type === "token").find((token) => token.seq === seq)!;

  /** Screenshots the page and reads the code with jsQR and with zbarimg; both must agree. */
  async function readQr(page: Page, step: string): Promise<{ text: string; version: number; path: string }> {
    const png = await page.screenshot();
    const path = await saveArtifact(step, png);
    const [byJsqr, byZbar] = [decodeWithJsqr(png), await decodeWithZbar(path)];
    expect(byJsqr, `jsQR reads ${path}`).not.toBeNull();
    expect(byZbar, "zbarimg reads the same text").toBe(byJsqr!.text);
    return { ...byJsqr!, path };
  }

  /** The phone page on a phone-sized screen, registered as a new phone. */
  async function registeredPhonePage(number: string, name: string): Promise<Page> {
    const phonePage = await (await chromium.newContext({ viewport: { width: 400, height: 800 } })).newPage();
    // Contacts who only answer, so what a test sees is what it caused.
    await phonePage.goto(`${server.url}/phone?contacts=quiet`);
    await phonePage.waitForSelector("body[data-screen=register]");
    await phonePage.fill("input[name=number]", number);
    await phonePage.fill("input[name=name]", name);
    await phonePage.click("#register-form button[type=submit]");
    await phonePage.waitForSelector("body[data-screen=home]", { timeout: 15_000 });
    return phonePage;
  }

  /** The two digits the page shows once a phone scanned (number matching). */
  async function shownNumber(page: Page): Promise<string> {
    await page.waitForFunction(() => /^\d{2}$/.test(document.getElementById("match-number")?.textContent ?? ""), null, { timeout: 15_000 });
    return (await page.locator("#match-number").textContent())!;
  }

  async function waitForNewQr(page: Page, previous: string): Promise<void> {
    await page.waitForFunction((text) => document.querySelector<HTMLElement>("#qr")?.dataset.text !== text, previous, { timeout: 15_000 });
  }

  it("shows a QR code that decodes to the session's current token, and the next one after a rotation", async () => {
    const { page, messages } = await openPage();
    const first = await readQr(page, "1-qr");
    const firstQr = parseQrText(first.text)!;
    expect(firstQr).toMatchObject({ origin: server.url, sessionId: latest(messages, "session").sessionId, token: latest(messages, "token").token });
    expect(await page.getByText("Link a device").isVisible()).toBe(true);

    await waitForNewQr(page, first.text);
    const second = await readQr(page, "2-rotated");
    const secondQr = parseQrText(second.text)!;
    expect(secondQr.token).toBe(tokenAt(messages, 1).token);
    expect(secondQr).toMatchObject({ sessionId: firstQr.sessionId, browserPublicKey: firstQr.browserPublicKey, qrSecret: firstQr.qrSecret });
    expect(secondQr.token).not.toBe(firstQr.token);

    // Past the grace window the first token is dead; the current one still works.
    const phone = new Phone(server.url, (await FilePhoneStore.load(profile()[3]!)).identity);
    const graceEnds = tokenAt(messages, 0).expiresAt + SCHEDULE.TOKEN_GRACE_MS;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, graceEnds - Date.now() + 200)));
    await expect(phone.inspect(firstQr)).rejects.toMatchObject({ code: "invalid_token" });
    await expect(phone.inspect(secondQr)).resolves.toMatchObject({ browser: expect.stringMatching(/^Chrome/), os: "Linux" });
    await page.waitForSelector("body[data-state=scanned]", { timeout: 1_000 });
  });

  it("still accepts the previous code within the grace window after a rotation", async () => {
    const { page } = await openPage();
    const first = await readQr(page, "2-grace-before");
    await waitForNewQr(page, first.text);
    const phone = new Phone(server.url, (await FilePhoneStore.load(profile()[3]!)).identity);
    await expect(phone.inspect(parseQrText(first.text)!)).resolves.toMatchObject({ place: "unknown" });
    await page.waitForSelector("body[data-state=scanned]", { timeout: 1_000 });
  });

  it("links with the phone simulator reading a screenshot: scanned at once with a number, typed on the phone, then the account's screen", async () => {
    const { page } = await openPage();
    // Headless Chromium grants no persistent storage, so what is checked is that the page asks for it once linked.
    await page.evaluate(() => {
      const storage = navigator.storage;
      const persist = storage.persist.bind(storage);
      Object.assign(window, { persistAsked: 0 });
      storage.persist = () => (Object.assign(window, { persistAsked: (window as unknown as { persistAsked: number }).persistAsked + 1 }), persist());
    });
    const shot = await readQr(page, "3-to-scan");
    const phone = spawnPhone(["link", "--image", shot.path, "--once", ...profile()]);
    await page.waitForSelector("body[data-state=scanned]", { timeout: 15_000 });
    await expect(page.getByText("Confirm on your phone").isVisible()).resolves.toBe(true);
    const number = await shownNumber(page);
    expect(await page.locator("#match-number").isVisible()).toBe(true);
    await phone.waitForOutput(/type the number the computer shows/);
    await saveArtifact("3-scanned", await page.screenshot());

    const confirmedAt = Date.now();
    phone.answer(`${number}\n`);
    const result = await phone.done;
    expect(result.stdout).toMatch(/Device: +Chrome \d+ on Linux \(reported by the browser\)/);
    expect(result.stdout).toContain("Linked: the browser now shows Alice (+15550001).");
    await page.waitForSelector("body[data-state=chat]", { timeout: 2_000 });
    expect(Date.now() - confirmedAt).toBeLessThan(2_000 + 1_500);
    expect(await page.locator("#me-name").textContent()).toBe("Alice");
    expect(await page.locator("#me-number").textContent()).toBe("+15550001");
    expect(await page.evaluate(() => (window as unknown as { persistAsked: number }).persistAsked), "asks for the link's storage to be kept").toBe(1);
    await saveArtifact("3-linked", await page.screenshot());
  });

  it("streams the phone's chats, sends through the phone with ticks, waits for an absent phone, resumes after a reload, logs out", async () => {
    const bob = ["--server", server.url, "--profile", join(profileDir, "bob.json")];
    expect((await runPhone(["register", "--number", "+15550002", "--name", "Bob", ...bob])).code).toBe(0);
    const { page, messages } = await openPage();
    const phone = spawnPhone(["link", (await readQr(page, "4-to-link")).text, ...bob]);
    await phone.waitForOutput(/type the number the computer shows/);
    phone.answer(`${await shownNumber(page)}\n`);
    await phone.waitForOutput(/Linked:/);
    const linkedAt = Date.now();
    await page.waitForSelector("body[data-state=chat]", { timeout: 2_000 });
    await page.waitForFunction(() => document.querySelectorAll(".chat-item").length >= 20, null, { timeout: 2_000 });
    const syncedIn = Date.now() - linkedAt;
    console.log(`initial sync: 21 chats shown ${syncedIn} ms after the phone confirmed`);
    expect(syncedIn, "the account and chats appear within 2 s").toBeLessThan(2_000);
    expect(await page.locator("#me-name").textContent()).toBe("Bob");
    await saveArtifact("4-chats", await page.screenshot());

    // 4. A message reaches the phone, decrypted there, and the contact's reply comes back.
    // The snapshot is complete once the most recent chat is open.
    await page.waitForSelector(".chat-item.selected", { timeout: 15_000 });
    const chat = (await page.locator("#conversation-title").textContent())!;
    await page.fill("#composer-input", "Lunch at noon?");
    await page.press("#composer-input", "Enter");
    await phone.waitForOutput(new RegExp(`you → ${chat}: Lunch at noon\\?`));
    // The contact's phone gets it and they read it: the ticks go ✓, ✓✓, then blue.
    await page.waitForSelector(".bubble.mine[data-status=read] >> text=Lunch at noon?", { timeout: 15_000 });
    await phone.waitForOutput(/→ you \(/);
    const reply = /(.+) → you \((.+)\): (.+)/.exec(phone.output())!;
    await page.getByText(reply[3]!, { exact: true }).last().waitFor({ timeout: 15_000 });
    await saveArtifact("4-reply", await page.screenshot());

    // 5. The phone goes away: the banner shows, a new message waits with a clock, then goes out once.
    phone.interrupt();
    await phone.done;
    await page.waitForSelector("#phone-banner:not([hidden])", { timeout: 15_000 });
    expect(await page.locator("#phone-banner").textContent()).toContain("Phone not connected");
    await page.fill("#composer-input", "Sent while the phone was away");
    await page.press("#composer-input", "Enter");
    const waiting = page.locator(".bubble.mine", { hasText: "Sent while the phone was away" });
    await waiting.waitFor();
    expect(await waiting.getAttribute("data-status")).toBe("pending");
    await saveArtifact("5-phone-away", await page.screenshot());

    // A reload while the phone is away keeps the chats shown and the message waiting.
    await page.reload();
    await page.waitForSelector("body[data-state=chat]", { timeout: 15_000 });
    await page.waitForFunction(() => document.querySelectorAll(".chat-item").length >= 20, null, { timeout: 15_000 });
    await page.locator(".chat-item", { hasText: chat }).click();
    expect(await waiting.getAttribute("data-status")).toBe("pending");
    await page.waitForSelector("#phone-banner:not([hidden])", { timeout: 15_000 });

    const back = spawnPhone(["online", ...bob]);
    await page.waitForSelector("#phone-banner[hidden]", { state: "attached", timeout: 15_000 });
    await page.waitForSelector('.bubble.mine[data-status=read] >> text="Sent while the phone was away"', { timeout: 15_000 });
    await back.waitForOutput(/you → .*: Sent while the phone was away/);
    expect(back.output().match(/Sent while the phone was away/g)).toHaveLength(1);
    expect(await waiting.count()).toBe(1);

    // 6. A reload keeps the session: no QR code, the same chats, every message once. It resumes at the link id, which no QR showed.
    const resumed = page.waitForEvent("websocket");
    await page.reload();
    expect(new URL((await resumed).url()).pathname).toBe(`/api/links/${latest(messages, "linked").linkId}/browser`);
    await page.waitForSelector("body[data-state=chat]", { timeout: 15_000 });
    await page.waitForFunction(() => document.querySelectorAll(".chat-item").length >= 20, null, { timeout: 15_000 });
    await page.locator(".chat-item", { hasText: chat }).click();
    await page.locator(".bubble", { hasText: "Sent while the phone was away" }).waitFor({ timeout: 15_000 });
    expect(await page.locator(".bubble", { hasText: "Lunch at noon?" }).count()).toBe(1);
    expect(await page.locator(".bubble", { hasText: "Sent while the phone was away" }).count()).toBe(1);
    await saveArtifact("6-reloaded", await page.screenshot());

    // Log out: the page shows a fresh code and the phone drops the link.
    await page.getByRole("button", { name: "Log out" }).click();
    await page.waitForSelector("body[data-state=pending]", { timeout: 15_000 });
    await back.waitForOutput(/link ended/);
    back.interrupt();
    await back.done;
  });

  it("runs in one tab at a time: a second tab offers 'Use here', takes the link over on click, and what it sends reaches the phone", async () => {
    const gina = ["--server", server.url, "--profile", join(profileDir, "gina.json")];
    expect((await runPhone(["register", "--number", "+15550010", "--name", "Gina", ...gina])).code).toBe(0);
    const { page: first, sockets: firstSockets } = await openPage();
    const phone = spawnPhone(["link", (await readQr(first, "tabs-to-link")).text, ...gina]);
    await phone.waitForOutput(/type the number the computer shows/);
    phone.answer(`${await shownNumber(first)}\n`);
    await first.waitForSelector("body[data-state=chat]", { timeout: 15_000 });
    await first.waitForFunction(() => document.querySelectorAll(".chat-item").length >= 20, null, { timeout: 15_000 });
    await first.waitForSelector(".chat-item.selected", { timeout: 15_000 });
    const chat = (await first.locator("#conversation-title").textContent())!;
    await first.fill("#composer-input", "From the first tab");
    await first.press("#composer-input", "Enter");
    await first.waitForSelector('.bubble.mine[data-status=read] >> text="From the first tab"', { timeout: 15_000 });
    expect(firstSockets.filter((socket) => !socket.isClosed())).toHaveLength(1);

    // A second tab of the same browser (same IndexedDB, same locks) opens no socket and offers to take over.
    const second = await first.context().newPage();
    const secondSockets: WebSocket[] = [];
    second.on("websocket", (socket) => secondSockets.push(socket));
    await second.goto(server.url);
    await second.waitForSelector("body[data-elsewhere]", { timeout: 15_000 });
    expect(await second.getByText("QR Link is open in another window").isVisible()).toBe(true);
    expect(await second.locator("#pairing").isVisible()).toBe(false);
    expect(secondSockets).toEqual([]);
    expect(await first.locator("#chat-app").isVisible()).toBe(true);
    await saveArtifact("tabs-second", await second.screenshot());

    // "Use here": the second tab shows the chats, the first stops at once and offers the same.
    const relay = second.waitForEvent("websocket");
    await second.getByRole("button", { name: "Use here" }).click();
    await first.waitForSelector("body[data-elsewhere]", { timeout: 15_000 });
    expect(await first.getByText("QR Link is open in another window").isVisible()).toBe(true);
    expect(await first.locator("#chat-app").isVisible()).toBe(false);
    expect(new URL((await relay).url()).pathname).toMatch(/^\/api\/links\/[0-9a-f]{64}\/browser$/);
    await second.waitForSelector("body[data-state=chat]:not([data-elsewhere])", { timeout: 15_000 });
    await second.waitForFunction(() => document.querySelectorAll(".chat-item").length >= 20, null, { timeout: 15_000 });
    // The first tab closed its relay socket and opened none.
    expect(firstSockets.filter((socket) => !socket.isClosed())).toEqual([]);
    await saveArtifact("tabs-taken-over", await second.screenshot());

    // What the new tab sends continues the first tab's stream: it reaches the phone once, and both messages show.
    await second.locator(".chat-item", { hasText: chat }).click();
    await second.fill("#composer-input", "From the second tab");
    await second.press("#composer-input", "Enter");
    await second.waitForSelector('.bubble.mine[data-status=read] >> text="From the second tab"', { timeout: 15_000 });
    await phone.waitForOutput(/you → .*: From the second tab/);
    expect(phone.output().match(/From the first tab/g)).toHaveLength(1);
    expect(phone.output().match(/From the second tab/g)).toHaveLength(1);
    expect(phone.output()).not.toMatch(/stopped:|link ended/);
    expect(await second.locator(".bubble", { hasText: "From the first tab" }).count()).toBe(1);

    // And back: the first tab takes over again, with everything the second one sent.
    await first.getByRole("button", { name: "Use here" }).click();
    await second.waitForSelector("body[data-elsewhere]", { timeout: 15_000 });
    await first.waitForSelector("body[data-state=chat]:not([data-elsewhere])", { timeout: 15_000 });
    await first.locator(".chat-item", { hasText: chat }).click();
    await first.fill("#composer-input", "From the first tab again");
    await first.press("#composer-input", "Enter");
    await phone.waitForOutput(/you → .*: From the first tab again/);
    await first.waitForSelector('.bubble.mine[data-status=read] >> text="From the first tab again"', { timeout: 15_000 });
    expect(phone.output().match(/From the second tab/g)).toHaveLength(1);
    phone.interrupt();
    await phone.done;
    await first.context().close();
  });

  it("returns to a fresh code when the phone revokes the device", async () => {
    const eve = ["--server", server.url, "--profile", join(profileDir, "eve.json")];
    expect((await runPhone(["register", "--number", "+15550005", "--name", "Eve", ...eve])).code).toBe(0);
    const { page, messages } = await openPage();
    const linked = await linkByTyping([(await readQr(page, "7-to-link")).text, "--once", ...eve], () => shownNumber(page));
    expect(linked.code, linked.stderr).toBe(0);
    await page.waitForSelector("body[data-state=chat]", { timeout: 15_000 });
    const sessionId = latest(messages, "session").sessionId;
    expect((await runPhone(["devices", ...eve])).stdout).toContain(sessionId);

    const revoked = await runPhone(["revoke", sessionId, ...eve]);
    expect(revoked.code, revoked.stderr).toBe(0);
    await page.waitForSelector("body[data-state=pending]", { timeout: 15_000 });
    expect(await page.locator("#notice").textContent()).toContain("logged out from your phone");
    const fresh = await readQr(page, "7-after-revoke");
    expect(parseQrText(fresh.text)!.sessionId).not.toBe(sessionId);
    await page.reload();
    await page.waitForSelector("body[data-state=pending]", { timeout: 15_000 });
  });

  it("links with the phone page: register, paste the code, pick the number the computer shows among three, stream chats, log the device out", async () => {
    const phonePage = await registeredPhonePage("+15550006", "Frank");

    const { page } = await openPage();
    const { text } = await readQr(page, "9-for-phone-page");
    await phonePage.click("#start-link");
    await phonePage.waitForSelector("body[data-screen=scan]");
    await phonePage.fill("#paste-form input[name=text]", text);
    await phonePage.click("#paste-form button[type=submit]");
    await phonePage.waitForSelector("body[data-screen=confirm]", { timeout: 15_000 });
    expect(await phonePage.locator("#context").textContent()).toMatch(/Reported by the browser: Chrome \d+ on Linux/);
    expect(await phonePage.locator("#place-warning").textContent()).toContain("Place unknown");
    await page.waitForSelector("body[data-state=scanned]", { timeout: 2_000 });
    const number = await shownNumber(page);
    const choices = await phonePage.locator("#match-choices button").allTextContents();
    expect(choices).toHaveLength(3);
    expect(new Set(choices).size).toBe(3);
    expect(choices).toContain(number);
    await saveArtifact("9-phone-confirm", await phonePage.screenshot());
    await saveArtifact("9-browser-number", await page.screenshot());

    await phonePage.click(`#match-choices button[data-choice="${number}"]`);
    await page.waitForSelector("body[data-state=chat]", { timeout: 15_000 });
    await page.waitForFunction(() => document.querySelectorAll(".chat-item").length >= 20, null, { timeout: 15_000 });
    expect(await page.locator("#me-name").textContent()).toBe("Frank");
    await phonePage.waitForSelector(".device-list li[data-device]", { timeout: 15_000 });

    await page.fill("#composer-input", "Sent via the phone page");
    await page.press("#composer-input", "Enter");
    await page.waitForSelector('.bubble.mine[data-status=read] >> text="Sent via the phone page"', { timeout: 15_000 });
    await phonePage.getByText(/You → .*: Sent via the phone page/).waitFor({ timeout: 15_000 });
    await saveArtifact("9-phone-home", await phonePage.screenshot());

    await phonePage.click(".device-list li[data-device] button");
    await page.waitForSelector("body[data-state=pending]", { timeout: 15_000 });
    await phonePage.getByText("None.").waitFor({ timeout: 15_000 });
  });

  it("lets a tab that lost the writer write nothing: every save is a compare-and-set on the writer id, in one transaction; clearing gives up the writer until claimed again", async () => {
    // The store's own code, bundled for the page; two tabs of one context share its IndexedDB.
    const bundled = await esbuild({ entryPoints: ["src/clients/browser/writer-guarded-store.ts"], bundle: true, format: "iife", globalName: "guarded", write: false });
    const context = await chromium.newContext();
    const [older, newer] = [await context.newPage(), await context.newPage()];
    for (const tab of [older, newer]) {
      await tab.goto(`${server.url}/favicon.svg`);
      await tab.evaluate(`${bundled.outputFiles[0]!.text}; window.store = new guarded.WriterGuardedStore("writer-test", "records");`);
    }
    type Tab = { store: { claim(): Promise<void>; clear(): Promise<void>; put(key: string, value: unknown): Promise<void>; get(key: string): Promise<unknown>; delete(key: string): Promise<void> } };
    const run = (tab: Page, action: string) =>
      tab.evaluate(
        async ([what]) => {
          const { store } = window as unknown as Tab;
          try {
            if (what === "claim") await store.claim();
            else if (what === "delete") await store.delete("link");
            else if (what === "clear") await store.clear();
            else await store.put("link", what);
            return "ok";
          } catch (error) {
            return (error as Error).name + ": " + (error as Error).message;
          }
        },
        [action],
      );
    expect(await run(older, "before claiming")).toMatch(/no longer writes/);
    expect(await run(older, "claim")).toBe("ok");
    expect(await run(older, "older's state")).toBe("ok");
    expect(await run(newer, "claim")).toBe("ok");
    // The older tab's saves and deletes fail from now on; the newer tab's go through.
    expect(await run(older, "older's late save")).toBe("Error: QR Link is open in another window, which now keeps its state; this window no longer writes it");
    expect(await run(older, "delete")).toMatch(/no longer writes/);
    expect(await newer.evaluate(() => (window as unknown as Tab).store.get("link"))).toBe("older's state");
    expect(await run(newer, "newer's state")).toBe("ok");
    expect(await older.evaluate(() => (window as unknown as Tab).store.get("link"))).toBe("newer's state");
    // A logout clears everything, the writer's id too: what was still under way in that tab writes nothing back, until the next link claims.
    expect(await run(newer, "clear")).toBe("ok");
    expect(await newer.evaluate(() => (window as unknown as Tab).store.get("writer"))).toBeUndefined();
    expect(await run(newer, "a download finishing after the logout")).toMatch(/no longer writes/);
    expect(await newer.evaluate(() => (window as unknown as Tab).store.get("link"))).toBeUndefined();
    expect(await run(newer, "claim")).toBe("ok");
    expect(await run(newer, "the next link")).toBe("ok");
    await context.close();
  });

  it("is the phone in one tab at a time: a second phone page tab offers 'Use here', and the first stops when it takes over", async () => {
    const phonePage = await registeredPhonePage("+15550011", "Hana");
    const second = await phonePage.context().newPage();
    await second.goto(`${server.url}/phone`);
    await second.waitForSelector("body[data-elsewhere]", { timeout: 15_000 });
    expect(await second.getByText("QR Link is open in another window").isVisible()).toBe(true);
    expect(await second.locator("#start-link").isVisible()).toBe(false);

    await second.getByRole("button", { name: "Use here" }).click();
    await phonePage.waitForSelector("body[data-elsewhere]", { timeout: 15_000 });
    await second.waitForSelector("body[data-screen=home]:not([data-elsewhere])", { timeout: 15_000 });
    expect(await second.locator("#phone-who").textContent()).toBe("Hana (+15550011)");
    expect(await phonePage.locator("#start-link").isVisible()).toBe(false);
    await phonePage.context().close();
  });

  /** "Link with phone number instead" on the page, for `number`: the code it then shows, as XXXX-XXXX. */
  async function askForCode(page: Page, number: string): Promise<string> {
    await page.click("#use-code");
    await page.waitForSelector("body[data-state=code-number]", { timeout: 2_000 });
    await page.fill("#code-number-input", number);
    await page.click("#code-number-form button[type=submit]");
    await page.waitForSelector("body[data-state=code]", { timeout: 15_000 });
    const code = (await page.locator("#link-code").textContent())!;
    expect(code).toMatch(/^[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}$/);
    expect(await page.locator("#code-countdown").textContent()).toMatch(/works for [23]:\d{2} more/);
    return code;
  }

  it("links with a code instead of a QR: the page shows a code, the CLI phone types it (link-code), the page shows the chats", async () => {
    const carol = ["--server", server.url, "--profile", join(profileDir, "carol.json")];
    expect((await runPhone(["register", "--number", "+15550021", "--name", "Carol", ...carol])).code).toBe(0);
    const { page, messages } = await openPage();
    const code = await askForCode(page, "+15550021");
    await saveArtifact("11-code", await page.screenshot());
    // The QR session was closed; the code was never sent.
    expect(JSON.stringify(messages)).not.toContain(code.replace("-", ""));

    const phone = spawnPhone(["link-code", code.toLowerCase(), ...carol]);
    await phone.waitForOutput(/type the number the computer shows/, 10_000);
    expect(phone.output()).toMatch(/Device: +Chrome \d+ on Linux \(reported by the browser\)/);
    const number = await shownNumber(page);
    phone.answer(`${number}\n`);
    await phone.waitForOutput(/Linked: the browser now shows Carol \(\+15550021\)\./, 5_000);
    await page.waitForSelector("body[data-state=chat]", { timeout: 15_000 });
    await page.waitForFunction(() => document.querySelectorAll(".chat-item").length >= 20, null, { timeout: 15_000 });
    expect(await page.locator("#me-name").textContent()).toBe("Carol");
    await saveArtifact("11-code-linked", await page.screenshot());
    phone.interrupt();
    expect((await phone.done).stdout).toContain("Offline.");
  });

  it("links with a code typed on the phone page: a wrong code costs a try on both screens, the right one links after number matching", async () => {
    const phonePage = await registeredPhonePage("+15550022", "Grace");
    const { page } = await openPage();
    const code = await askForCode(page, "+15550022");
    const wrong = code.slice(0, 8) + (code.endsWith("A") ? "B" : "A");

    await phonePage.click("#start-link-code");
    await phonePage.waitForSelector("body[data-screen=code]");
    await phonePage.fill("#code-form input[name=code]", wrong);
    await phonePage.click("#code-form button[type=submit]");
    await phonePage.getByText("2 tries left").waitFor({ timeout: 15_000 });
    await page.getByText("The code typed on the phone was wrong. 2 tries left.").waitFor({ timeout: 2_000 });

    await phonePage.fill("#code-form input[name=code]", code);
    await phonePage.click("#code-form button[type=submit]");
    await phonePage.waitForSelector("body[data-screen=confirm]", { timeout: 15_000 });
    expect(await phonePage.locator("#context").textContent()).toMatch(/Reported by the browser: Chrome \d+ on Linux/);
    const number = await shownNumber(page);
    expect(await phonePage.locator("#match-choices button").allTextContents()).toContain(number);
    await phonePage.click(`#match-choices button[data-choice="${number}"]`);
    await page.waitForSelector("body[data-state=chat]", { timeout: 15_000 });
    await page.waitForFunction(() => document.querySelectorAll(".chat-item").length >= 20, null, { timeout: 15_000 });
    expect(await page.locator("#me-name").textContent()).toBe("Grace");
  });

  it("opens no code session in a tab that lost the lock while it made the code's keys", async () => {
    const { page: first, sockets } = await openPage();
    // The code's X25519 key pair is held until the test lets it go, so another tab can take over meanwhile.
    await first.evaluate(() => {
      const subtle = crypto.subtle;
      const generateKey = subtle.generateKey.bind(subtle);
      const held = new Promise<void>((resolve) => Object.assign(window, { releaseKeys: resolve }));
      subtle.generateKey = (async (algorithm: AlgorithmIdentifier, ...rest: [boolean, KeyUsage[]]) => {
        if ((algorithm as Algorithm).name === "X25519") await held;
        return generateKey(algorithm, ...rest);
      }) as typeof subtle.generateKey;
    });
    await first.click("#use-code");
    await first.fill("#code-number-input", "+15550023");
    await first.click("#code-number-form button[type=submit]");
    await first.waitForSelector("body[data-state=loading]", { timeout: 2_000 });

    const second = await first.context().newPage();
    await second.goto(server.url);
    await second.getByRole("button", { name: "Use here" }).click();
    await first.waitForSelector("body[data-elsewhere]", { timeout: 15_000 });
    await second.waitForSelector("body[data-state=pending]:not([data-elsewhere])", { timeout: 15_000 });

    await first.evaluate(() => (window as unknown as { releaseKeys(): void }).releaseKeys());
    // Time for a socket to open, had the tab gone on: none does, and the page still says it is open elsewhere.
    await first.waitForTimeout(1_000);
    expect(sockets.map((socket) => new URL(socket.url()).pathname)).not.toContain("/api/code-sessions/connect");
    expect(await first.locator("body[data-elsewhere]").count()).toBe(1);
    await first.context().close();
  });

  it("spends nothing when a link opens the phone page at /link#…, until the user says a computer is in front of them", async () => {
    const phonePage = await registeredPhonePage("+15550007", "Grace");

    const { page, messages } = await openPage();
    const { text } = await readQr(page, "9-link-landing");
    await phonePage.goto(text);
    await phonePage.waitForSelector("body[data-screen=arrived]", { timeout: 15_000 });
    expect(new URL(phonePage.url()).pathname).toBe("/phone");
    expect(new URL(phonePage.url()).hash).toBe("");
    expect(await phonePage.getByText("Are you linking a computer that is in front of you right now?").isVisible()).toBe(true);
    await saveArtifact("9-link-landing", await phonePage.screenshot());
    // Opening the link spent nothing: the browser stays on its code.
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(messages.some((message) => message.type === "scanned")).toBe(false);
    expect(await page.evaluate(() => document.body.dataset.state)).toBe("pending");

    // Cancel: still nothing spent, and the phone is back home.
    await phonePage.click("#arrived-cancel");
    await phonePage.waitForSelector("body[data-screen=home]");
    expect(messages.some((message) => message.type === "scanned")).toBe(false);

    // Opened again, and this time the user says yes: only now is the code inspected, then the number matched.
    const again = await readQr(page, "9-link-landing-again");
    await phonePage.goto(again.text);
    await phonePage.waitForSelector("body[data-screen=arrived]", { timeout: 15_000 });
    expect(messages.some((message) => message.type === "scanned")).toBe(false);
    await phonePage.click("#arrived-continue");
    await phonePage.waitForSelector("body[data-screen=confirm]", { timeout: 15_000 });
    await page.waitForSelector("body[data-state=scanned]", { timeout: 2_000 });
    await phonePage.click(`#match-choices button[data-choice="${await shownNumber(page)}"]`);
    await page.waitForSelector("body[data-state=chat]", { timeout: 15_000 });
    expect(await page.locator("#me-name").textContent()).toBe("Grace");
  });

  it("ends the session when the phone page picks a number the computer does not show, and the computer says so", async () => {
    const phonePage = await registeredPhonePage("+15550008", "Heidi");
    const { page, messages } = await openPage();
    const { text } = await readQr(page, "10-wrong-pick");
    await phonePage.click("#start-link");
    await phonePage.fill("#paste-form input[name=text]", text);
    await phonePage.click("#paste-form button[type=submit]");
    await phonePage.waitForSelector("body[data-screen=confirm]", { timeout: 15_000 });
    const number = await shownNumber(page);
    const wrong = (await phonePage.locator("#match-choices button").allTextContents()).find((choice) => choice !== number)!;
    await phonePage.click(`#match-choices button[data-choice="${wrong}"]`);

    await page.waitForSelector("body[data-state=error]", { timeout: 15_000 });
    expect(await page.locator("#error-title").textContent()).toBe("The numbers did not match");
    expect(latest(messages, "ended").reason).toBe("wrong_number");
    expect(messages.some((message) => message.type === "linked")).toBe(false);
    await saveArtifact("10-wrong-pick", await page.screenshot());
    await phonePage.waitForSelector("body[data-screen=home]", { timeout: 15_000 });
    expect(await phonePage.locator("#notice").textContent()).toContain("That is not the number on the computer");
    await phonePage.getByText("None.").waitFor({ timeout: 15_000 });

    // "Try again" brings a fresh code.
    await page.getByRole("button", { name: "Try again" }).click();
    await page.waitForSelector("body[data-state=pending]", { timeout: 2_000 });
    expect(parseQrText((await readQr(page, "10-after-wrong-pick")).text)!.sessionId).not.toBe(parseQrText(text)!.sessionId);
  });

  it("returns to a fresh code when a scan is not confirmed in time", async () => {
    const { page } = await openPage();
    const before = await readQr(page, "4-abandoned-before");
    const phone = spawnPhone(["link", before.text, ...profile()]);
    await page.waitForSelector("body[data-state=scanned]", { timeout: 15_000 });
    const number = await shownNumber(page);
    await page.waitForSelector("body[data-state=pending]", { timeout: SCHEDULE.CONFIRM_TIMEOUT_MS + 3_000 });
    expect(await page.locator("#notice").textContent()).toContain("Nobody confirmed");
    const after = await readQr(page, "4-abandoned-after");
    expect(parseQrText(after.text)!.sessionId).not.toBe(parseQrText(before.text)!.sessionId);
    // The right number, typed too late.
    phone.answer(`${number}\n`);
    expect((await phone.done).stderr).toContain("session_not_found");
  });

  it("returns to a fresh code when the phone rejects", async () => {
    const { page } = await openPage();
    const before = await readQr(page, "3-before-reject");
    const result = await runPhone(["link", before.text, "--reject", ...profile()]);
    expect(result.stdout).toContain("Rejected");
    await waitForNewQr(page, before.text);
    await page.waitForSelector("body[data-state=pending]");
    const after = await readQr(page, "3-after-reject");
    expect(parseQrText(after.text)!.sessionId).not.toBe(parseQrText(before.text)!.sessionId);
  });

  it("says why the phone's account refused the link, keeps the scan waiting, and links once the phone frees a slot", async () => {
    const ivan = ["--server", server.url, "--profile", join(profileDir, "ivan.json")];
    expect((await runPhone(["register", "--number", "+15550009", "--name", "Ivan", ...ivan])).code).toBe(0);
    const phone = new Phone(server.url, (await FilePhoneStore.load(ivan[3]!)).identity);
    const others = await Promise.all(Array.from({ length: MAX_LINKED_DEVICES }, () => SocketBrowser.open(server.url)));
    for (const other of others) {
      const qr = parseQrText(await other.qrText())!;
      await phone.inspect(qr);
      await phone.confirm(qr);
    }
    const { page } = await openPage();
    const qr = parseQrText((await page.locator("#qr").getAttribute("data-text"))!)!;
    await phone.inspect(qr);
    await expect(phone.confirm(qr)).rejects.toMatchObject({ code: "device_limit" });
    await page.waitForSelector("#scan-refusal:not([hidden])", { timeout: 2_000 });
    expect(await page.locator("#scan-refusal").textContent()).toBe(`This phone already has ${MAX_LINKED_DEVICES} linked devices. Log one out on the phone to link this one.`);
    expect(await page.evaluate(() => document.body.dataset.state)).toBe("scanned");
    await phone.revoke(others[0]!.sessionId);
    await phone.confirm(qr);
    await page.waitForSelector("body[data-state=chat]", { timeout: 15_000 });
    for (const other of others) other.close();
  });

  it("says the code expired after the last token, and its reload button brings a fresh one", async () => {
    const { page, messages } = await openPage();
    const lifetime = SCHEDULE.TOKEN_FIRST_TTL_MS + (SCHEDULE.TOKEN_COUNT - 1) * SCHEDULE.TOKEN_TTL_MS;
    await page.waitForSelector("body[data-state=expired]", { timeout: lifetime + 3_000 });
    // The whole schedule comes at once, the token on screen last; the page draws each in its window.
    expect(messages.filter((message) => message.type === "token").map((message) => message.seq)).toEqual([1, 2, 0]);
    expect(latest(messages, "ended").reason).toBe("expired");
    await saveArtifact("expired", await page.screenshot());

    await page.getByRole("button", { name: "Reload QR code" }).click();
    await page.waitForSelector("body[data-state=pending]", { timeout: 2_000 });
    expect(parseQrText((await readQr(page, "expired-reloaded")).text)).not.toBeNull();
  });

  it("serves its pages with a policy that allows no inline script and no framing, and the camera only to the phone page", async () => {
    for (const path of ["/", "/phone", "/link"]) {
      const headers = (await fetch(`${server.url}${path}`)).headers;
      const policy = headers.get("content-security-policy") ?? "";
      // Only the phone page may compile WebAssembly (its QR reader); no page may eval JavaScript.
      expect(policy, path).toContain(path === "/" ? "script-src 'self';" : "script-src 'self' 'wasm-unsafe-eval';");
      expect(policy).toContain("frame-ancestors 'none'");
      expect(headers.get("referrer-policy")).toBe("no-referrer");
      expect(headers.get("permissions-policy")).toContain(path === "/" ? "camera=()" : "camera=(self)");
    }
    // The pages run under that policy: a refused script or connection would show up here.
    const { page } = await openPage();
    const refusals: string[] = [];
    page.on("console", (message) => message.text().includes("Content Security Policy") && refusals.push(message.text()));
    await page.reload();
    await page.waitForSelector("body[data-state=pending]");
    expect(refusals).toEqual([]);
  });

  it("keeps the code dark on light in the dark colour scheme", async () => {
    const { page, messages } = await openPage("dark");
    const png = await page.screenshot();
    const { text, version } = await readQr(page, "8-dark");
    expect(parseQrText(text)!.token).toBe(latest(messages, "token").token);
    const box = (await page.locator("#qr svg").boundingBox())!;
    expect(Math.max(...pixelAt(png, 5, 5)), "the page itself is dark").toBeLessThan(60);
    expect(Math.min(...pixelAt(png, box.x + 3, box.y + 3)), "the quiet zone is light").toBeGreaterThan(230);
    const modulesWithQuietZone = 17 + 4 * version + 8;
    expect(box.width / modulesWithQuietZone, "at least 4 px per module").toBeGreaterThanOrEqual(4);
  });
});
