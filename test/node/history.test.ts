// History in pages, in Chromium with a large phone (2,000 chats, 200,000
// messages): the chat list comes first, older messages come as the user
// scrolls back, and a page the browser has is never asked for again.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LARGE_HISTORY } from "../../src/clients/phone-core/history";
import { launchChromium, missingTools } from "./chromium";
import { startDevServer, type DevServer } from "./dev-server";
import { runPhone, spawnPhone, type RunningPhone } from "./phone-cli";

const skipReason = missingTools();

describe.skipIf(skipReason)("a phone with years of chats, in Chromium", () => {
  let server: DevServer;
  let chromium: Browser;
  let profileDir: string;
  let phone: RunningPhone | undefined;

  beforeAll(async () => {
    [server, chromium, profileDir] = await Promise.all([startDevServer(), launchChromium(), mkdtemp(join(tmpdir(), "qr-link-history-"))]);
  });

  afterAll(async () => {
    phone?.interrupt();
    await phone?.done;
    await chromium?.close();
    await server?.stop();
    await rm(profileDir, { recursive: true, force: true });
  });

  /** Relay frames this page sends (each an encrypted app message: here, a history_request or a read). */
  function countSentFrames(page: Page): () => number {
    let frames = 0;
    page.on("websocket", (socket) => socket.on("framesent", ({ payload }) => void (String(payload).startsWith('{"type":"frame"') && frames++)));
    return () => frames;
  }

  const shownIds = (page: Page) => page.locator("#messages .bubble").evaluateAll((bubbles) => bubbles.map((bubble) => (bubble as HTMLElement).dataset.id!));

  /** Scrolls the conversation to its top until `count` messages are shown. */
  async function scrollBackTo(page: Page, count: number): Promise<void> {
    const deadline = Date.now() + 10_000;
    while ((await page.locator("#messages .bubble").count()) < count) {
      if (Date.now() > deadline) throw new Error(`only ${await page.locator("#messages .bubble").count()} messages after scrolling back`);
      await page.evaluate(() => {
        document.getElementById("messages")!.scrollTop = 0;
      });
      await page.waitForTimeout(50);
    }
  }

  it("draws the chat list first, brings older messages as the user scrolls back, asks for each page once, and keeps them over a reload", async () => {
    const profile = ["--server", server.url, "--profile", join(profileDir, "large.json")];
    expect((await runPhone(["register", "--number", "+15550041", "--name", "Ida", "--history", "large", ...profile])).code).toBe(0);
    const context = await chromium.newContext({ viewport: { width: 1280, height: 720 } });
    const page = await context.newPage();
    const sent = countSentFrames(page);
    await page.goto(server.url);
    await page.waitForFunction(() => Boolean(document.querySelector<HTMLElement>("#qr")?.dataset.text), null, { timeout: 15_000 });
    phone = spawnPhone(["link", (await page.locator("#qr").getAttribute("data-text"))!, ...profile]);
    await phone.waitForOutput(/type the number the computer shows/, 10_000);
    await page.waitForFunction(() => /^\d{2}$/.test(document.getElementById("match-number")?.textContent ?? ""), null, { timeout: 15_000 });
    phone.answer(`${await page.locator("#match-number").textContent()}\n`);
    await phone.waitForOutput(/Linked:/, 10_000);
    const linkedAt = Date.now();

    // The chat list first: every chat known, the most recent drawn (more rows as the list is scrolled).
    await page.waitForSelector(`#chat-list[data-count="${LARGE_HISTORY.chats}"] .chat-item`, { timeout: 10_000 });
    const listDrawnIn = Date.now() - linkedAt;
    await page.waitForSelector(".chat-item.selected", { timeout: 10_000 });
    console.log(`large phone: ${LARGE_HISTORY.chats} chats listed ${listDrawnIn} ms after the phone confirmed`);

    // The newest chat (20,000 messages) is open with its latest page; 1,000 more come by scrolling back.
    const firstPage = await shownIds(page);
    const sentBefore = sent();
    expect(firstPage.length).toBeGreaterThan(0);
    expect(firstPage.length).toBeLessThan(100);
    const scrollStarted = Date.now();
    await scrollBackTo(page, firstPage.length + 1_000);
    const scrolledIn = Date.now() - scrollStarted;
    const requests = sent() - sentBefore;
    console.log(`large phone: 1,000 older messages shown ${scrolledIn} ms after scrolling back began, in ${requests} requests`);
    const ids = await shownIds(page);
    // In order, each once, and ending with the page shown first.
    const numbers = ids.map((id) => Number(id.split("-")[1]));
    expect(numbers).toEqual(numbers.map((_, i) => numbers[0]! + i));
    expect(ids.slice(-firstPage.length)).toEqual(firstPage);
    // Each page once: a page holds a few hundred messages, so 1,000 take a handful of requests, not one per scroll event.
    expect(requests).toBeGreaterThan(0);
    expect(requests).toBeLessThanOrEqual(Math.ceil(1_000 / 300) + 1);
    const heapMb = await page.evaluate(() => (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0) / 2 ** 20;
    console.log(`large phone: the linked tab's JS heap ${heapMb.toFixed(1)} MB`);
    expect(heapMb).toBeLessThan(150);

    // A reload shows what was loaded without asking for it again.
    const reloaded = await context.newPage();
    await page.close();
    const sentAfterReload = countSentFrames(reloaded);
    await reloaded.goto(server.url);
    await reloaded.waitForSelector(`#chat-list[data-count="${LARGE_HISTORY.chats}"] .chat-item`, { timeout: 10_000 });
    await reloaded.locator(".chat-item").first().click();
    await reloaded.waitForFunction((count) => document.querySelectorAll("#messages .bubble").length >= count, ids.length, { timeout: 15_000 });
    await reloaded.waitForTimeout(300);
    // Only the sync on opening (and a read, if something was unread): no page asked for twice.
    expect(sentAfterReload()).toBeGreaterThan(0);
    expect(sentAfterReload()).toBeLessThanOrEqual(2);
    await context.close();
  });
});
