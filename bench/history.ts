// Issue 15's figures: history at scale, where the user sees it. A simulated
// phone with the large history (phone-core over the CLI's file store, driven
// in this process as `npm run phone -- link` and `online` drive it) links the
// real page in Chromium, served with its assets by a QR Link runtime. Every
// time ends in the page, when what the user waits for is in the DOM (a
// MutationObserver notes the moment); a time that starts on the phone starts
// when the phone sends its confirm (both clocks are this machine's).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { Browser, BrowserContext, Page } from "playwright-core";
import WebSocket from "ws";
import { FilePhoneStore } from "../src/clients/phone-cli/file-phone-store";
import { ProfileLock } from "../src/clients/phone-cli/profile-lock";
import type { HistorySize } from "../src/clients/phone-core/history";
import { Phone } from "../src/clients/phone-core/phone";
import { PhoneChats } from "../src/clients/phone-core/phone-chats";
import { newLinkRecord } from "../src/clients/phone-core/phone-store";
import { parseQrText, type ChatSummary } from "../src/shared/protocol";
import { launchChromium } from "../test/node/chromium";
import { percentile, round, sleep } from "./relay-load";
import type { Runtime } from "./servers";

export interface HistoryPlan {
  history: HistorySize;
  /** Browsers linked one after another, each timed from confirm to chat list (at most MAX_LINKED_DEVICES). */
  links: number;
  /** Chats opened that the snapshot did not carry (their messages come from the phone). */
  openChats: number;
  /** Times 1,000 older messages are scrolled back in the longest chat, each further back. */
  scrollBacks: number;
  /** Times the tab goes away while the phone logs `changes` changes, and comes back. */
  catchUps: number;
  changes: number;
}

/** Issue 15's goals: under these, on this machine. */
export const HISTORY_GOALS = { confirmToChatListMs: 1_000, openChatMs: 200, scrollBack1000Ms: 1_000, catchUp1000ChangesMs: 1_000, heapMb: 150 } as const;

/** Messages scrolled back per timing. */
const SCROLL_BACK_MESSAGES = 1_000;
/** What opening a chat must show: a screenful, as the page asks to fill on opening (chat-screen.ts OPENING_SCREENFUL). */
const SCREENFUL = 30;
/** The snapshot carries the latest messages of this many chats (phone-chats.ts SNAPSHOT_RECENT_CHATS); the chats opened are after them. */
const SNAPSHOT_CHATS = 20;
/** Rows the chat list draws at first (chat-render.ts CHAT_ROWS_STEP): the chats opened are among them. */
const DRAWN_ROWS = 100;
/** No wait in the page lasts longer: the bench must end. */
const WAIT_LIMIT_MS = 30_000;

interface Timed {
  p50: number;
  p99: number;
  runs: number[];
}

function timed(runs: number[]): Timed {
  const sorted = [...runs].sort((a, b) => a - b);
  return { p50: round(percentile(sorted, 0.5), 1), p99: round(percentile(sorted, 0.99), 1), runs: runs.map((run) => round(run, 1)) };
}

// --- in the page --------------------------------------------------------------

interface Watch {
  name: string;
  selector: string;
  /** At least this many elements match… */
  min: number;
  /** …and one of them holds this text. */
  text?: string;
}

/** In the page: `benchMarks[name]` resolves with the time (Date.now()) the DOM first holds what `watch` asks for. */
function watchFor({ name, selector, min, text }: Watch): void {
  const page = window as unknown as { benchMarks?: Record<string, Promise<number>> };
  page.benchMarks ??= {};
  page.benchMarks[name] = new Promise((resolve) => {
    const holds = () => {
      const found = document.querySelectorAll(selector);
      return found.length >= min && (text === undefined || Array.from(found).some((node) => node.textContent?.includes(text)));
    };
    if (holds()) return resolve(Date.now());
    const observer = new MutationObserver(() => {
      if (!holds()) return;
      observer.disconnect();
      resolve(Date.now());
    });
    observer.observe(document, { childList: true, subtree: true, attributes: true, characterData: true });
  });
}

/** The time a watch was met. */
function marked(page: Page, name: string): Promise<number> {
  return withLimit(
    page.evaluate((key) => (window as unknown as { benchMarks: Record<string, Promise<number>> }).benchMarks[key]!, name),
    `"${name}" shown`,
  );
}

/** In the page: clicks a chat in the list; resolves with the ms until it shows `min` messages. */
function openChatIn({ chatId, min }: { chatId: string; min: number }): Promise<number> {
  const messages = document.getElementById("messages")!;
  const holds = () => messages.dataset.chat === chatId && messages.querySelectorAll(".bubble").length >= min;
  return new Promise((resolve) => {
    const started = performance.now();
    const observer = new MutationObserver(() => {
      if (!holds()) return;
      observer.disconnect();
      resolve(performance.now() - started);
    });
    observer.observe(messages, { childList: true, attributes: true });
    document.querySelector<HTMLElement>(`.chat-item[data-chat="${chatId}"]`)!.click();
  });
}

/** In the page: holds the open conversation at its top, as a reader scrolling back does, until `count` more messages are shown; resolves with the ms. */
function scrollBackIn(count: number): Promise<number> {
  const messages = document.getElementById("messages")!;
  const shown = () => messages.querySelectorAll(".bubble").length;
  const target = shown() + count;
  return new Promise((resolve) => {
    const started = performance.now();
    const observer = new MutationObserver(() => {
      if (shown() < target) {
        messages.scrollTop = 0;
        return;
      }
      observer.disconnect();
      resolve(performance.now() - started);
    });
    observer.observe(messages, { childList: true });
    messages.scrollTop = 0;
  });
}

interface FrameCounts {
  sent(): number;
  received(): number;
}

/** Relay frames (encrypted app messages) a page sends and receives on the sockets it opens from now on. */
function countFrames(page: Page): FrameCounts {
  let sent = 0;
  let received = 0;
  const isFrame = (payload: string | Buffer) => String(payload).startsWith('{"type":"frame"');
  page.on("websocket", (socket) => {
    socket.on("framesent", ({ payload }) => void (isFrame(payload) && sent++));
    socket.on("framereceived", ({ payload }) => void (isFrame(payload) && received++));
  });
  return { sent: () => sent, received: () => received };
}

async function heapMb(page: Page): Promise<{ used: number; afterGc: number }> {
  const cdp = await page.context().newCDPSession(page);
  const used = ((await cdp.send("Runtime.getHeapUsage")) as { usedSize: number }).usedSize;
  await cdp.send("HeapProfiler.collectGarbage");
  const afterGc = ((await cdp.send("Runtime.getHeapUsage")) as { usedSize: number }).usedSize;
  await cdp.detach();
  return { used: round(used / 2 ** 20, 1), afterGc: round(afterGc / 2 ** 20, 1) };
}

// --- the run --------------------------------------------------------------------

export async function historyAtScale(runtime: Runtime, plan: HistoryPlan, log: (line: string) => void) {
  const server = runtime.url;
  const dir = await mkdtemp(join(tmpdir(), "qr-link-bench-history-"));
  const profile = join(dir, "phone.json");
  const lock = await ProfileLock.acquire(profile, "bench");
  let browser: Browser | null = null;
  let chats: PhoneChats | null = null;
  try {
    // The phone, registered as `npm run phone -- register --history <size>` does it.
    const store = await FilePhoneStore.create(profile, "+15559000015", "Ida Bench", lock, plan.history);
    const phone = new Phone(server, store.identity);
    await phone.register();
    // The simulator makes its history on first use; a real phone has it. Made here, outside the times.
    const generating = performance.now();
    const list: ChatSummary[] = store.chatList();
    const historyGenerationMs = round(performance.now() - generating, 0);
    const messages = list.reduce((total, summary) => total + summary.count, 0);
    log(`history: the ${plan.history} phone, ${list.length} chats and ${messages} messages (made in ${historyGenerationMs} ms)`);
    const phoneChats = new PhoneChats(phone, store, (event) => event.kind === "failed" && log(`history: the phone: ${event.error}`), { lively: false });
    chats = phoneChats;
    browser = await launchChromium();

    /** A browser of its own (its own storage). tsx keeps function names with a `__name` helper, which the page needs for the functions passed to it. */
    const newContext = async (): Promise<BrowserContext> => {
      const context = await browser!.newContext({ viewport: { width: 1280, height: 720 } });
      await context.addInitScript("globalThis.__name = (target) => target;");
      return context;
    };

    /** A new browser linked to the phone as `link` does it; the time from the confirm sent to its chat list drawn. */
    const linkBrowser = async (): Promise<{ context: BrowserContext; page: Page; frames: FrameCounts; confirmToChatListMs: number }> => {
      const context = await newContext();
      const page = await context.newPage();
      const frames = countFrames(page);
      await page.goto(server);
      await page.waitForFunction(() => Boolean(document.querySelector<HTMLElement>("#qr")?.dataset.text), null, { timeout: WAIT_LIMIT_MS });
      const qr = parseQrText((await page.locator("#qr").getAttribute("data-text"))!)!;
      const inspection = await phone.inspect(qr, { extractableKey: true });
      await page.waitForFunction((number) => document.getElementById("match-number")?.textContent === number, inspection.matchingNumber, { timeout: WAIT_LIMIT_MS });
      await page.evaluate(watchFor, { name: "chatList", selector: `#chat-list[data-count="${list.length}"] .chat-item`, min: 1 });
      // The user typed the number: from here on, the CLI's confirmLink and goOnline.
      const confirmedAt = Date.now();
      const linked = await phone.confirm(qr);
      const record = newLinkRecord(qr, linked.linkId, await crypto.subtle.exportKey("jwk", linked.agreement.privateKey));
      await store.saveLink(record);
      await phoneChats.open(record, WebSocket);
      return { context, page, frames, confirmToChatListMs: (await marked(page, "chatList")) - confirmedAt };
    };

    const confirmToChatList: number[] = [];
    let linked!: { context: BrowserContext; page: Page; frames: FrameCounts };
    for (let run = 0; run < plan.links; run++) {
      if (linked) await linked.context.close();
      const next = await linkBrowser();
      confirmToChatList.push(next.confirmToChatListMs);
      log(`history: confirm → ${list.length} chats listed in ${next.confirmToChatListMs} ms`);
      linked = next;
    }
    const { context, frames } = linked;
    let page = linked.page;
    await page.waitForSelector(".chat-item.selected", { timeout: WAIT_LIMIT_MS });

    // Chats the snapshot did not carry: each shows its latest messages once the phone answers.
    const openable = list.slice(SNAPSHOT_CHATS, DRAWN_ROWS);
    const step = Math.max(1, Math.floor(openable.length / plan.openChats));
    const openChat: number[] = [];
    for (let i = 0; i < plan.openChats && i * step < openable.length; i++) {
      const { chat, count } = openable[i * step]!;
      openChat.push(await withLimit(page.evaluate(openChatIn, { chatId: chat.id, min: Math.min(SCREENFUL, count) }), `chat ${chat.id} opened`));
    }
    log(`history: a chat opened shows its latest messages in ${timed(openChat).p50} ms (p50 of ${openChat.length})`);

    // The longest chat, scrolled back 1,000 messages at a time.
    const longest = list.reduce((most, summary) => (summary.count > most.count ? summary : most));
    await page.evaluate(openChatIn, { chatId: longest.chat.id, min: Math.min(SCREENFUL, longest.count) });
    const scrollBack: number[] = [];
    const requests: number[] = [];
    for (let run = 0; run < plan.scrollBacks; run++) {
      const sentBefore = frames.sent();
      scrollBack.push(await withLimit(page.evaluate(scrollBackIn, SCROLL_BACK_MESSAGES), "scrolling back"));
      requests.push(frames.sent() - sentBefore);
      log(`history: ${SCROLL_BACK_MESSAGES} older messages shown in ${round(scrollBack.at(-1)!, 0)} ms (${requests.at(-1)} requests)`);
    }
    const shownMessages = await page.locator("#messages .bubble").count();
    const heap = await heapMb(page);
    log(`history: the linked tab's JS heap ${heap.used} MB (${heap.afterGc} MB after a GC), ${shownMessages} messages shown`);

    // The tab goes away while the phone logs changes (contacts writing in chats all over the list), then comes back.
    const catchUp: number[] = [];
    const framesReceived: number[] = [];
    const changesPerSecond: number[] = [];
    for (let run = 0; run < plan.catchUps; run++) {
      await page.close();
      const marker = `Catch-up ${run + 1} done`;
      let lastChat = "";
      const logging = performance.now();
      for (let i = 0; i < plan.changes; i++) {
        const { chat } = list[(i * 37) % list.length]!;
        const from = chat.group ? "Bob Lee" : chat.title;
        lastChat = chat.id;
        await phoneChats.apply({ type: "message", message: { id: `bench-${run}-${i}`, chatId: chat.id, from, text: i === plan.changes - 1 ? marker : `Catch-up message ${i + 1}`, at: Date.now() } });
      }
      changesPerSecond.push((plan.changes * 1000) / (performance.now() - logging));
      // What the phone pushes before it stops for a browser that is away.
      await sleep(200);
      page = await context.newPage();
      const back = countFrames(page);
      await page.addInitScript(watchFor, { name: "current", selector: `.chat-item[data-chat="${lastChat}"] .chat-preview`, min: 1, text: marker });
      await page.goto(server);
      const currentAt = await marked(page, "current");
      catchUp.push(currentAt - (await page.evaluate(() => performance.timeOrigin)));
      framesReceived.push(back.received());
      log(`history: back after ${plan.changes} changes, current ${round(catchUp.at(-1)!, 0)} ms after the tab opened (${back.received()} frames)`);
    }
    const heapAfterCatchUp = await heapMb(page);

    const result = {
      phone: { history: plan.history, chats: list.length, messages, historyGenerationMs, longestChat: longest.count },
      goals: HISTORY_GOALS,
      confirmToChatListMs: timed(confirmToChatList),
      openChatMs: { ...timed(openChat), screenful: SCREENFUL },
      scrollBack1000Ms: { ...timed(scrollBack), requests, shownAtEnd: shownMessages },
      catchUp1000ChangesMs: { ...timed(catchUp), changes: plan.changes, framesReceived, phoneChangesPerSecond: round(timed(changesPerSecond).p50, 0) },
      heapMb: Math.max(heap.used, heapAfterCatchUp.used),
      heap: { afterScrollBackMb: heap.used, afterScrollBackGcMb: heap.afterGc, afterCatchUpMb: heapAfterCatchUp.used, afterCatchUpGcMb: heapAfterCatchUp.afterGc },
    };
    return { ...result, met: metGoals(result) };
  } finally {
    chats?.stop();
    await browser?.close();
    await lock.release();
    await rm(dir, { recursive: true, force: true });
  }
}

function metGoals(result: { confirmToChatListMs: Timed; openChatMs: Timed; scrollBack1000Ms: Timed; catchUp1000ChangesMs: Timed; heapMb: number }): Record<keyof typeof HISTORY_GOALS, boolean> {
  return {
    confirmToChatListMs: result.confirmToChatListMs.p99 < HISTORY_GOALS.confirmToChatListMs,
    openChatMs: result.openChatMs.p99 < HISTORY_GOALS.openChatMs,
    scrollBack1000Ms: result.scrollBack1000Ms.p99 < HISTORY_GOALS.scrollBack1000Ms,
    catchUp1000ChangesMs: result.catchUp1000ChangesMs.p99 < HISTORY_GOALS.catchUp1000ChangesMs,
    heapMb: result.heapMb < HISTORY_GOALS.heapMb,
  };
}

async function withLimit<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`history bench: ${what} took over ${WAIT_LIMIT_MS / 1000} s`)), WAIT_LIMIT_MS)));
  try {
    return await Promise.race([work, limit]);
  } finally {
    clearTimeout(timer);
  }
}
