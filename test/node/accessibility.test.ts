// Everyone can use it: axe-core on every screen of both pages, light and
// dark; the chat screen with the keyboard alone; honest connection states
// (offline, a server outage); a phone-sized window. Chromium against a real
// `wrangler dev`, with the CLI phone or the phone page on the other side.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page, WebSocketRoute } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FilePhoneStore } from "../../src/clients/phone-cli/file-phone-store";
import { Phone } from "../../src/clients/phone-core/phone";
import { parseQrText } from "../../src/shared/protocol";
import { axeLog, expectAccessible } from "./axe";
import { launchChromium, missingTools } from "./chromium";
import { startDevServer, type DevServer } from "./dev-server";
import { runPhone, spawnPhone, type RunningPhone } from "./phone-cli";

/** A code that expires within seconds, so the expired screen is reached; long enough to scan in-process. */
const SCHEDULE = { TOKEN_FIRST_TTL_MS: 4_000, TOKEN_TTL_MS: 3_000, TOKEN_COUNT: 2, TOKEN_GRACE_MS: 1_500, CONFIRM_TIMEOUT_MS: 30_000 };

const skipReason = missingTools();

describe.skipIf(skipReason)("everyone can use it", () => {
  let server: DevServer;
  let chromium: Browser;
  let profileDir: string;
  const profile = (name: string) => ["--server", server.url, "--profile", join(profileDir, `${name}.json`)];

  beforeAll(async () => {
    const vars = Object.fromEntries(Object.entries(SCHEDULE).map(([name, value]) => [name, String(value)]));
    [server, chromium, profileDir] = await Promise.all([startDevServer({ vars }), launchChromium(), mkdtemp(join(tmpdir(), "qr-link-a11y-"))]);
  });
  afterAll(async () => {
    console.log(`axe-core, screen by screen:\n${axeLog.join("\n")}`);
    await chromium?.close();
    await server?.stop();
    await rm(profileDir, { recursive: true, force: true });
  });

  async function registeredPhone(name: string, number: string): Promise<Phone> {
    expect((await runPhone(["register", "--number", number, "--name", name, ...profile(name)])).code).toBe(0);
    return new Phone(server.url, (await FilePhoneStore.load(profile(name)[3]!)).identity);
  }

  const qrOf = async (page: Page) => parseQrText((await page.locator("#qr").getAttribute("data-text"))!)!;

  it("QR page: no violations with the code, linking by code, another window, scanned, refused, expired, offline and during a server outage; it says when it cannot reach the server and retries on request", async () => {
    const phone = await registeredPhone("alice", "+15550101");
    const context = await chromium.newContext({ viewport: { width: 1280, height: 720 } });
    const page = await context.newPage();
    let serverDown = true;
    await page.routeWebSocket(/\/api\//, (socket) => (serverDown ? socket.close({ code: 1011, reason: "down" }) : socket.connectToServer()));

    await page.goto(server.url);
    const status = page.locator("#pairing-connection");
    await status.getByText(/^Reconnecting in \d+ s…$/).waitFor({ timeout: 15_000 });
    expect(await status.locator(".connection-title").textContent()).toBe("Cannot reach QR Link");
    await expectAccessible(page, "QR page, server outage");
    serverDown = false;
    await status.getByRole("button", { name: "Retry now" }).click();
    await page.waitForSelector("body[data-state=pending]", { timeout: 15_000 });
    expect(await status.isVisible()).toBe(false);
    await expectAccessible(page, "QR page, the code");

    const wentOffline = Date.now();
    await context.setOffline(true);
    await status.getByText("Computer not connected").waitFor({ timeout: 5_000 });
    expect(Date.now() - wentOffline).toBeLessThan(5_000);
    await expectAccessible(page, "QR page, computer offline");
    await context.setOffline(false);
    await status.waitFor({ state: "hidden", timeout: 5_000 });

    await page.waitForSelector("body[data-state=pending]", { timeout: 15_000 });
    // Linking with a code instead: the number form, then the code.
    await page.click("#use-code");
    await page.waitForSelector("body[data-state=code-number]", { timeout: 2_000 });
    await expectAccessible(page, "QR page, link with phone number");
    await page.fill("#code-number-input", "+15550101");
    await page.click("#code-number-form button[type=submit]");
    await page.waitForSelector("body[data-state=code]", { timeout: 15_000 });
    await expectAccessible(page, "QR page, the code to type on the phone");
    await page.getByRole("button", { name: "Link with a QR code instead" }).click();
    await page.waitForSelector("body[data-state=pending]", { timeout: 15_000 });
    // Open in another window: this one offers "Use here".
    const other = await context.newPage();
    await other.goto(server.url);
    await other.waitForSelector("body[data-elsewhere]", { timeout: 15_000 });
    await expectAccessible(other, "QR page, open in another window");
    await other.close();

    const qr = await qrOf(page);
    await phone.inspect(qr);
    await page.waitForSelector("body[data-state=scanned]", { timeout: 15_000 });
    await expectAccessible(page, "QR page, scanned");
    await phone.reject(qr, "wrong_number");
    await page.waitForSelector("body[data-state=error]", { timeout: 15_000 });
    await expectAccessible(page, "QR page, refused");
    await page.getByRole("button", { name: "Try again" }).click();
    await page.waitForSelector("body[data-state=expired]", { timeout: SCHEDULE.TOKEN_FIRST_TTL_MS + SCHEDULE.TOKEN_TTL_MS + 3_000 });
    await expectAccessible(page, "QR page, expired");
    await context.close();
  });

  describe("the chat screen", () => {
    let context: BrowserContext;
    let page: Page;
    let phone: RunningPhone;

    /** The page's sockets, each through a route that can drop it; while `serverDown`, new ones are refused. */
    const sockets: WebSocketRoute[] = [];
    let serverDown = false;

    beforeAll(async () => {
      await registeredPhone("bob", "+15550102");
      context = await chromium.newContext({ viewport: { width: 1280, height: 720 } });
      await context.routeWebSocket(/\/api\//, (socket) => {
        if (serverDown) return socket.close({ code: 1011, reason: "down" });
        sockets.push(socket);
        socket.connectToServer();
      });
      page = await context.newPage();
      await page.goto(server.url);
      await page.waitForSelector("body[data-state=pending]");
      phone = spawnPhone(["link", (await page.locator("#qr").getAttribute("data-text"))!, ...profile("bob")]);
      await phone.waitForOutput(/type the number the computer shows/, 10_000);
      await page.waitForFunction(() => /^\d{2}$/.test(document.getElementById("match-number")?.textContent ?? ""));
      phone.answer(`${await page.locator("#match-number").textContent()}\n`);
      await page.waitForSelector("body[data-state=chat]", { timeout: 15_000 });
      await page.waitForFunction(() => document.querySelectorAll(".chat-item").length >= 20, null, { timeout: 15_000 });
    });
    afterAll(async () => {
      phone?.interrupt();
      await phone?.done;
      await context?.close();
    });

    it("has no violations, and the keyboard alone moves through the chats, opens one and sends", async () => {
      await expectAccessible(page, "chat screen");
      // Tab into the list: one stop for the whole list, on the open chat.
      for (let presses = 0; presses < 10 && !(await page.evaluate(() => document.activeElement?.getAttribute("role") === "option")); presses++) await page.keyboard.press("Tab");
      const focused = () => page.evaluate(() => (document.activeElement as HTMLElement).dataset.chat);
      const first = await focused();
      expect(first, "Tab reaches the chat list").toBeTruthy();
      expect(await page.locator(`#chat-list [data-chat="${first}"]`).getAttribute("aria-selected")).toBe("true");
      await page.keyboard.press("ArrowDown");
      await page.keyboard.press("ArrowDown");
      await page.keyboard.press("ArrowUp");
      const target = await focused();
      const ids = await page.locator("#chat-list [role=option]").evaluateAll((items) => items.map((item) => (item as HTMLElement).dataset.chat));
      expect(ids.indexOf(target)).toBe(ids.indexOf(first) + 1);
      const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
      expect(outline, "the focused chat shows it").not.toBe("none");
      await page.keyboard.press("Enter");
      const title = (await page.locator(`#chat-list [data-chat="${target}"] .chat-title`).textContent())!;
      await expect(page.locator("#conversation-title").textContent()).resolves.toContain(title);
      expect(await page.locator(`#chat-list [data-chat="${target}"]`).getAttribute("aria-selected")).toBe("true");
      expect(await page.evaluate(() => document.activeElement?.id), "focus moves to the message box").toBe("composer-input");
      await page.keyboard.type("Typed with the keyboard alone");
      await page.keyboard.press("Enter");
      await phone.waitForOutput(new RegExp(`you → ${title}: Typed with the keyboard alone`));
      // The contact's answer is announced on its own, not the whole conversation again.
      await page.waitForFunction(() => (document.getElementById("message-announcer")?.textContent ?? "") !== "", null, { timeout: 15_000 });
      expect(await page.locator("#message-announcer").textContent()).toMatch(new RegExp(`^Message from .+: .+`));
      expect(await page.locator("#messages").getAttribute("aria-live")).toBeNull();
      await expectAccessible(page, "chat screen, a chat open");
    });

    it("says 'Computer not connected' within 5 s of going offline, keeps a message waiting, and sends it once back", async () => {
      const wentOffline = Date.now();
      await context.setOffline(true);
      const status = page.locator("#chat-connection");
      await status.getByText("Computer not connected").waitFor({ timeout: 5_000 });
      expect(Date.now() - wentOffline).toBeLessThan(5_000);
      expect(await page.locator("#phone-banner").isVisible(), "the phone's state is unknown, so not claimed").toBe(false);
      await expectAccessible(page, "chat screen, computer offline");
      await page.fill("#composer-input", "Written while offline");
      await page.press("#composer-input", "Enter");
      const waiting = page.locator(".bubble.mine", { hasText: "Written while offline" });
      expect(await waiting.getAttribute("data-status")).toBe("pending");
      await context.setOffline(false);
      await status.waitFor({ state: "hidden", timeout: 5_000 });
      await page.waitForSelector('.bubble.mine:not([data-status=pending]) >> text="Written while offline"', { timeout: 15_000 });
      await phone.waitForOutput(/you → .*: Written while offline/);
    });

    it("says 'Reconnecting in N s…' during a server outage, distinct from the phone, and 'Retry now' reconnects", async () => {
      serverDown = true;
      for (const socket of sockets.splice(0)) await socket.close({ code: 1011, reason: "server restarting" });
      const status = page.locator("#chat-connection");
      await status.getByText(/^Reconnecting in \d+ s…$/).waitFor({ timeout: 15_000 });
      expect(await status.locator(".connection-title").textContent()).toBe("Cannot reach QR Link");
      expect(await page.locator("#phone-banner").isVisible()).toBe(false);
      await expectAccessible(page, "chat screen, server outage");
      // With a second or more to the next try on its own, so it is the click that reconnects.
      await status.getByText(/^Reconnecting in ([2-9]|\d\d+) s…$/).waitFor({ timeout: 30_000 });
      serverDown = false;
      // Clicked as the user does, without waiting for the countdown's text to stop changing.
      await status.getByRole("button", { name: "Retry now" }).dispatchEvent("click");
      await status.waitFor({ state: "hidden", timeout: 3_000 });
      await page.waitForSelector("#phone-banner[hidden]", { state: "attached", timeout: 3_000 });
    });

    it("keeps the open chat in view in the list when a send moves it to the top", async () => {
      // The last chat, at the bottom of the scrolled list.
      const chatId = await page.evaluate(() => {
        const list = document.getElementById("chat-list")!;
        list.scrollTop = list.scrollHeight;
        return (list.lastElementChild as HTMLElement).dataset.chat!;
      });
      await page.locator(`#chat-list [data-chat="${chatId}"]`).click();
      await page.fill("#composer-input", "Moves this chat to the top");
      await page.press("#composer-input", "Enter");
      await page.waitForFunction((id) => document.querySelector("#chat-list [role=option]")?.getAttribute("data-chat") === id, chatId, { timeout: 15_000 });
      expect(await page.locator(`#chat-list [data-chat="${chatId}"]`).getAttribute("aria-selected")).toBe("true");
      const inView = await page.evaluate((id) => {
        const item = document.querySelector(`#chat-list [data-chat="${id}"]`)!.getBoundingClientRect();
        const list = document.getElementById("chat-list")!.getBoundingClientRect();
        return item.top >= list.top - 1 && item.bottom <= list.bottom + 1;
      }, chatId);
      expect(inView, "the open chat is within the list's view").toBe(true);
    });

    it("at 390 px: the chat list, then one chat with a back button; the chat stays open and in view after a send", async () => {
      await page.setViewportSize({ width: 390, height: 844 });
      await page.getByRole("button", { name: "Back to the chats" }).click();
      const list = page.locator("#chat-list");
      const conversation = page.locator(".conversation");
      expect(await list.isVisible()).toBe(true);
      expect(await conversation.isVisible()).toBe(false);
      await expectAccessible(page, "chat screen at 390 px, the list");
      const lastItem = page.locator("#chat-list [role=option]").last();
      const title = (await lastItem.locator(".chat-title").textContent())!;
      await lastItem.click();
      expect(await conversation.isVisible()).toBe(true);
      expect(await list.isVisible()).toBe(false);
      await expectAccessible(page, "chat screen at 390 px, a chat");
      await page.fill("#composer-input", "Sent from a phone-sized window");
      await page.press("#composer-input", "Enter");
      await phone.waitForOutput(/you → .*: Sent from a phone-sized window/);
      // The list re-sorted (this chat is now the latest); the conversation stays open on the same chat.
      expect(await page.locator("#conversation-title").textContent()).toContain(title);
      expect(await page.locator(".bubble", { hasText: "Sent from a phone-sized window" }).isVisible()).toBe(true);
      await page.getByRole("button", { name: "Back to the chats" }).click();
      const item = page.locator(`#chat-list [role=option][aria-selected=true]`);
      expect(await item.locator(".chat-title").textContent()).toBe(title);
      expect(await item.isVisible()).toBe(true);
      // Polled: under CI load a single read right after the click once saw no chat focused; if focus never lands, the failure says where it is.
      const focusedChat = () => page.evaluate(() => document.activeElement?.closest<HTMLElement>("#chat-list [role=option]")?.dataset.chat ?? `not a chat in the list: ${document.activeElement?.tagName}#${document.activeElement?.id}`);
      await expect.poll(focusedChat, { message: "back puts focus on the chat that was open", timeout: 5_000 }).toBe(await item.getAttribute("data-chat"));
      await page.setViewportSize({ width: 1280, height: 720 });
    });
  });

  it("phone page: no violations on register, home, chats, a chat, scan (no camera), link with a code, another window, the arrived question and confirm", async () => {
    const phonePage = await (await chromium.newContext({ viewport: { width: 390, height: 844 } })).newPage();
    await phonePage.goto(`${server.url}/phone?contacts=quiet`);
    await phonePage.waitForSelector("body[data-screen=register]");
    await expectAccessible(phonePage, "phone page, register");
    await phonePage.fill("input[name=number]", "+15550103");
    await phonePage.fill("input[name=name]", "Carol");
    await phonePage.click("#register-form button[type=submit]");
    await phonePage.waitForSelector("body[data-screen=home]", { timeout: 15_000 });
    await expectAccessible(phonePage, "phone page, home");

    await phonePage.click("#open-chats");
    await phonePage.waitForSelector("body[data-screen=chats]");
    await expectAccessible(phonePage, "phone page, chats");
    await phonePage.locator("#chat-list [role=option]").first().press("Enter");
    await phonePage.waitForSelector(".phone-chats[data-open=chat]");
    await expectAccessible(phonePage, "phone page, a chat");
    await phonePage.getByRole("button", { name: "Back to the chats" }).click();
    await phonePage.getByRole("button", { name: "Back to home" }).click();

    await phonePage.click("#start-link");
    await phonePage.waitForSelector("body[data-screen=scan]");
    await phonePage.locator("#scan-status.warning").waitFor({ timeout: 15_000 });
    await expectAccessible(phonePage, "phone page, scan without a camera");
    await phonePage.getByRole("button", { name: "Cancel" }).click();
    await phonePage.click("#start-link-code");
    await phonePage.waitForSelector("body[data-screen=code]");
    await expectAccessible(phonePage, "phone page, link with a code");
    await phonePage.locator("[data-screen=code]").getByRole("button", { name: "Cancel" }).click();
    const otherTab = await phonePage.context().newPage();
    await otherTab.goto(`${server.url}/phone`);
    await otherTab.waitForSelector("body[data-elsewhere]", { timeout: 15_000 });
    await expectAccessible(otherTab, "phone page, open in another window");
    await otherTab.close();

    const qrPage = await (await chromium.newContext()).newPage();
    await qrPage.goto(server.url);
    await qrPage.waitForSelector("body[data-state=pending]");
    await phonePage.goto((await qrPage.locator("#qr").getAttribute("data-text"))!);
    await phonePage.waitForSelector("body[data-screen=arrived]", { timeout: 15_000 });
    await expectAccessible(phonePage, "phone page, arrived by a link");
    await phonePage.click("#arrived-continue");
    await phonePage.waitForSelector("body[data-screen=confirm]", { timeout: 15_000 });
    await expectAccessible(phonePage, "phone page, confirm");
  });
});
