// Many devices, one truth: two browsers linked to one phone in real Chromium
// show the same chats live, whatever is typed or read on either browser or
// on the phone (the CLI's commands, the phone page's composer), and a browser
// that was away catches up on exactly what it missed.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { replyTo } from "../../src/clients/phone-core/history";
import { PUSH_BACKLOG_FRAMES } from "../../src/clients/phone-core/phone-chats";
import { launchChromium, missingTools } from "./chromium";
import { startDevServer, type DevServer } from "./dev-server";
import { linkWithPhonePage, newBrowser, openChat, shownNumber, showsChats, type LinkedPage } from "./linked-browser";
import { runPhone, spawnPhone, type RunningPhone } from "./phone-cli";

const skipReason = missingTools();
/** A chat that is not open on any page when the test starts (the most recent, c1, is). */
const QUIET_CHAT = { id: "c12", title: "Olivia Rossi" };

describe.skipIf(skipReason)("many devices on one phone, in Chromium", () => {
  let server: DevServer;
  let chromium: Browser;
  let profileDir: string;

  beforeAll(async () => {
    [server, chromium, profileDir] = await Promise.all([startDevServer(), launchChromium(), mkdtemp(join(tmpdir(), "qr-link-many-"))]);
  });

  afterAll(async () => {
    await chromium?.close();
    await server?.stop();
    await rm(profileDir, { recursive: true, force: true });
  });

  /** What the quiet chat's contact answers to `text` (the simulator's answers are fixed by the text). */
  function answerTo(text: string): string {
    return replyTo({ ...QUIET_CHAT, group: false }, { id: "any", chatId: QUIET_CHAT.id, from: "me", text, at: 0 }).text;
  }

  /** Links a new browser with `link --once`, as a user types the number; its chats come once the phone is online. */
  async function linkWithCli(profile: string[]): Promise<LinkedPage> {
    const { context, page, qrText } = await newBrowser(chromium, server.url);
    const phone = spawnPhone(["link", qrText, "--once", ...profile]);
    await phone.waitForOutput(/type the number the computer shows/, 10_000);
    phone.answer(`${await shownNumber(page)}\n`);
    expect((await phone.done).code).toBe(0);
    await page.waitForSelector("body[data-state=chat]", { timeout: 15_000 });
    return { context, page };
  }

  const bubble = (page: Page, text: string) => page.locator(".bubble", { hasText: text });
  const badge = (page: Page, chatId: string) => page.locator(`.chat-item[data-chat="${chatId}"] .unread`);

  async function send(page: Page, text: string): Promise<void> {
    await page.fill("#composer-input", text);
    await page.press("#composer-input", "Enter");
  }

  it("mirrors two browsers and the CLI phone live, and a browser that was away gets only what it missed, once and in order", async () => {
    const profile = ["--server", server.url, "--profile", join(profileDir, "carol.json")];
    expect((await runPhone(["register", "--number", "+15550031", "--name", "Carol", ...profile])).code).toBe(0);
    const a = await linkWithCli(profile);
    const b = await linkWithCli(profile);
    const phone: RunningPhone = spawnPhone(["online", ...profile]);
    await phone.waitForOutput(/Online: streaming to 2 linked browsers/, 10_000);
    for (const { page } of [a, b]) {
      await showsChats(page);
      // The snapshot is complete: the most recent chat is open.
      await page.waitForSelector(".chat-item.selected", { timeout: 15_000 });
      await page.waitForSelector("#phone-banner[hidden]", { state: "attached", timeout: 15_000 });
    }
    const chat = (await a.page.locator("#conversation-title").textContent())!;
    await openChat(b.page, chat);

    // Sent in A: in B within a second, with the same ticks as they move.
    const sentAt = Date.now();
    await send(a.page, "Hello from A");
    await bubble(b.page, "Hello from A").waitFor({ timeout: 1_000 });
    console.log(`A → B: shown in B ${Date.now() - sentAt} ms after it was sent in A`);
    await phone.waitForOutput(/you → .*: Hello from A/);
    for (const page of [a.page, b.page]) await page.waitForSelector('.bubble.mine[data-status=read] >> text="Hello from A"', { timeout: 15_000 });

    // Sent with the CLI's command: on both; the contact's answer makes an unread badge on both.
    phone.type(`send ${QUIET_CHAT.id} From the CLI phone`);
    for (const page of [a.page, b.page]) await badge(page, QUIET_CHAT.id).waitFor({ timeout: 6_000 });
    await openChat(a.page, QUIET_CHAT.title);
    await bubble(a.page, "From the CLI phone").waitFor({ timeout: 1_000 });
    // A opened it, so it is read: B's badge and the titles' counts go too.
    await badge(b.page, QUIET_CHAT.id).waitFor({ state: "detached", timeout: 1_000 });
    await openChat(b.page, QUIET_CHAT.title);
    await bubble(b.page, "From the CLI phone").waitFor({ timeout: 1_000 });

    // Reading in B clears the badge in A: a contact writes in a chat neither has open.
    await openChat(a.page, chat);
    await openChat(b.page, chat);
    phone.type(`send ${QUIET_CHAT.id} Anyone there?`);
    for (const page of [a.page, b.page]) await badge(page, QUIET_CHAT.id).waitFor({ timeout: 6_000 });
    expect(await a.page.title()).toMatch(/^\(\d+\) QR Link$/);
    const titleBefore = Number(/\((\d+)\)/.exec(await a.page.title())![1]);
    await openChat(b.page, QUIET_CHAT.title);
    await badge(a.page, QUIET_CHAT.id).waitFor({ state: "detached", timeout: 1_000 });
    await a.page.waitForFunction((before) => !document.title.startsWith(`(${before})`), titleBefore, { timeout: 1_000 });

    // B goes away; A sends 50 messages, which the contact receives, reads and answers.
    await openChat(b.page, chat);
    await b.page.close();
    const replies = () => (phone.output().match(/→ you \(/g) ?? []).length;
    const repliesBefore = replies();
    for (let i = 1; i <= 50; i++) await send(a.page, `Burst ${i}`);
    await phone.waitForOutput(/you → .*: Burst 50\n/, 10_000);
    const deadline = Date.now() + 15_000;
    while (replies() < repliesBefore + 50 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(replies()).toBe(repliesBefore + 50);
    await a.page.waitForSelector('.bubble.mine[data-status=read] >> text="Burst 50"', { timeout: 15_000 });

    // B comes back (the same browser, a new tab): it gets the frames already queued for it and one answer with the rest.
    const back = await b.context.newPage();
    let frames = 0;
    back.on("websocket", (socket) => socket.on("framereceived", ({ payload }) => void (String(payload).startsWith('{"type":"frame"') && frames++)));
    await back.goto(server.url);
    await showsChats(back);
    await openChat(back, chat);
    await back.waitForSelector('.bubble.mine[data-status=read] >> text="Burst 50"', { timeout: 15_000 });
    const texts = await back.locator(".bubble .text").allTextContents();
    const bursts = texts.filter((text) => /^Burst \d+$/.test(text));
    expect(bursts).toEqual(Array.from({ length: 50 }, (_, i) => `Burst ${i + 1}`));
    await new Promise((resolve) => setTimeout(resolve, 500));
    console.log(`B back after 50 messages (about 200 changes): ${frames} relay frames`);
    expect(frames).toBeGreaterThan(0);
    expect(frames).toBeLessThanOrEqual(PUSH_BACKLOG_FRAMES + 2);

    // The CLI's other commands, and what it says to a mistake.
    phone.type("chats");
    await phone.waitForOutput(new RegExp(`${QUIET_CHAT.id} +${QUIET_CHAT.title}`));
    phone.type("send nobody hello");
    await phone.waitForOutput(/no chat "nobody"; the chats are c\d+ \(/);
    // Read on the phone: the badge the contact's answer made goes from the browser.
    phone.type("send Olivia Are you there?");
    await badge(a.page, QUIET_CHAT.id).waitFor({ timeout: 6_000 });
    phone.type("read Olivia");
    await phone.waitForOutput(/Read Olivia Rossi\./);
    await badge(a.page, QUIET_CHAT.id).waitFor({ state: "detached", timeout: 1_000 });

    phone.interrupt();
    await phone.done;
    await a.context.close();
    await b.context.close();
  });

  async function registeredPhonePage(number: string, name: string): Promise<Page> {
    const phonePage = await (await chromium.newContext({ viewport: { width: 400, height: 800 } })).newPage();
    await phonePage.goto(`${server.url}/phone?contacts=quiet`);
    await phonePage.fill("input[name=number]", number);
    await phonePage.fill("input[name=name]", name);
    await phonePage.click("#register-form button[type=submit]");
    await phonePage.waitForSelector("body[data-screen=home]", { timeout: 15_000 });
    return phonePage;
  }

  /** Sends a message from the phone page's chat screen, and goes back to its list (so the answer is not read on the phone). */
  async function sendFromPhone(phonePage: Page, chatTitle: string, text: string): Promise<void> {
    if ((await phonePage.locator("body").getAttribute("data-screen")) !== "chats") await phonePage.click("#open-chats");
    if ((await phonePage.locator(".phone-chats").getAttribute("data-open")) === "chat") await phonePage.click("#close-chat");
    await phonePage.locator(".chat-item", { hasText: chatTitle }).click();
    await phonePage.fill("#composer-input", text);
    await phonePage.press("#composer-input", "Enter");
    await bubble(phonePage, text).waitFor();
    await phonePage.click("#close-chat");
  }

  it("shows what is typed on the phone page on every linked browser, and what they send on the phone page", async () => {
    const phonePage = await registeredPhonePage("+15550032", "Dave");
    const a = await linkWithPhonePage(chromium, server.url, phonePage);
    const b = await linkWithPhonePage(chromium, server.url, phonePage);

    await sendFromPhone(phonePage, QUIET_CHAT.title, "Typed on the phone page");
    for (const page of [a.page, b.page]) {
      await openChat(page, QUIET_CHAT.title);
      await bubble(page, "Typed on the phone page").waitFor({ timeout: 2_000 });
    }
    // The contact answers: on the phone and both browsers, with the ticks gone blue.
    await phonePage.locator(".chat-item", { hasText: QUIET_CHAT.title }).click();
    for (const page of [phonePage, a.page, b.page]) await page.waitForSelector('.bubble.mine[data-status=read] >> text="Typed on the phone page"', { timeout: 15_000 });
    for (const page of [phonePage, a.page, b.page]) await page.locator(".bubble.theirs .text", { hasText: answerTo("Typed on the phone page") }).last().waitFor({ timeout: 15_000 });

    // Sent in a browser: on the phone page's open chat and the other browser.
    await send(b.page, "Sent in B");
    await bubble(phonePage, "Sent in B").waitFor({ timeout: 2_000 });
    await bubble(a.page, "Sent in B").waitFor({ timeout: 2_000 });
    await phonePage.context().close();
    await a.context.close();
    await b.context.close();
  });

  it("tells the user of a message that arrives while the tab is hidden, with a notification they allowed by a click and the count in the title", async () => {
    const phonePage = await registeredPhonePage("+15550033", "Erin");
    // The page's Notification and visibility, recorded: headless Chromium shows no notifications and is never hidden.
    const a = await linkWithPhonePage(chromium, server.url, phonePage, () => {
      const record = window as unknown as { notifications: { title: string; body: string }[]; permissionAsked: number; hidden: boolean };
      Object.assign(record, { notifications: [], permissionAsked: 0, hidden: false });
      class RecordedNotification {
        static permission: NotificationPermission = "default";
        static async requestPermission(): Promise<NotificationPermission> {
          record.permissionAsked++;
          RecordedNotification.permission = "granted";
          return "granted";
        }
        constructor(title: string, options: NotificationOptions) {
          record.notifications.push({ title, body: String(options.body) });
        }
        addEventListener(): void {}
        close(): void {}
      }
      Object.defineProperty(window, "Notification", { value: RecordedNotification });
      Object.defineProperty(document, "visibilityState", { get: () => (record.hidden ? "hidden" : "visible") });
    });
    const recorded = () =>
      a.page.evaluate(() => {
        const { notifications, permissionAsked } = window as unknown as { notifications: { title: string; body: string }[]; permissionAsked: number };
        return { notifications, permissionAsked };
      });

    // Never asked on load: an offer the user clicks.
    expect((await recorded()).permissionAsked).toBe(0);
    await a.page.click("#enable-notifications");
    expect((await recorded()).permissionAsked).toBe(1);
    await a.page.locator("#enable-notifications").waitFor({ state: "hidden" });

    // Visible: a contact's answer in the open chat is read at once, no notification.
    await openChat(a.page, QUIET_CHAT.title);
    await sendFromPhone(phonePage, QUIET_CHAT.title, "Visible tab");
    await a.page.locator(".bubble.theirs .text", { hasText: answerTo("Visible tab") }).last().waitFor({ timeout: 6_000 });
    expect((await recorded()).notifications).toEqual([]);

    // Hidden: the next answer notifies, and the title counts it until the tab is back.
    await a.page.evaluate(() => {
      (window as unknown as { hidden: boolean }).hidden = true;
      document.dispatchEvent(new Event("visibilitychange"));
    });
    const titleBefore = await a.page.title();
    await sendFromPhone(phonePage, QUIET_CHAT.title, "Hidden tab");
    await a.page.waitForFunction(() => (window as unknown as { notifications: unknown[] }).notifications.length > 0, null, { timeout: 6_000 });
    const [notification] = (await recorded()).notifications;
    expect(notification!.title).toBe(QUIET_CHAT.title);
    expect(notification!.body).toBe(answerTo("Hidden tab"));
    await a.page.waitForFunction((title) => document.title !== title && /^\(\d+\) QR Link$/.test(document.title), titleBefore, { timeout: 2_000 });
    await a.page.evaluate(() => {
      (window as unknown as { hidden: boolean }).hidden = false;
      document.dispatchEvent(new Event("visibilitychange"));
    });
    // Back: the open chat is read, on the phone too.
    await a.page.waitForFunction((title) => document.title === title, titleBefore, { timeout: 2_000 });
    await phonePage.context().close();
    await a.context.close();
  });
});
