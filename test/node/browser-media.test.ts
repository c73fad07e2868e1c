// Photos and files as a person meets them: Chromium attaches them, the phone
// simulator (the CLI) fetches and checks them, a contact sends a photo back
// that opens full size, a file over the limit is refused before upload, and
// the R2 state wrangler dev keeps on disk holds no plaintext. The browser's
// cache of what it fetched stays within its bound in IndexedDB, and a logout
// leaves nothing of the account there, whatever finishes after it.
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { APIResponse, Browser, Page, Route } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleForPage, launchChromium, missingTools, saveArtifact } from "./chromium";
import { startDevServer, type DevServer } from "./dev-server";
import { runPhone, spawnPhone, type RunningPhone } from "./phone-cli";

const skipReason = missingTools();
const MiB = 1024 * 1024;

/** Every file under `dir`, whatever wrangler dev keeps there. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

describe.skipIf(skipReason)("photos and files in Chromium", () => {
  let server: DevServer;
  let chromium: Browser;
  let stateDir: string;
  let profileDir: string;
  let page: Page;
  let phone: RunningPhone;
  const profile = () => ["--server", server.url, "--profile", join(profileDir, "mia.json")];

  beforeAll(async () => {
    [stateDir, profileDir] = [await mkdtemp(join(tmpdir(), "qr-link-media-state-")), await mkdtemp(join(tmpdir(), "qr-link-media-"))];
    [server, chromium] = await Promise.all([startDevServer({ stateDir }), launchChromium()]);
    expect((await runPhone(["register", "--number", "+15550070", "--name", "Mia", ...profile()])).code).toBe(0);
    page = await (await chromium.newContext({ viewport: { width: 1280, height: 720 } })).newPage();
    await page.goto(server.url);
    await page.waitForSelector("body[data-state=pending]");
    const qrText = await page.locator("#qr").getAttribute("data-text");
    phone = spawnPhone(["link", qrText!, ...profile()]);
    await phone.waitForOutput(/type the number the computer shows/);
    await page.waitForFunction(() => /^\d{2}$/.test(document.getElementById("match-number")?.textContent ?? ""), null, { timeout: 5_000 });
    phone.answer(`${await page.locator("#match-number").textContent()}\n`);
    await phone.waitForOutput(/Linked:/);
    await page.waitForFunction(() => document.querySelectorAll(".chat-item").length >= 20, null, { timeout: 5_000 });
  });

  afterAll(async () => {
    phone?.interrupt();
    await phone?.done;
    await chromium?.close();
    await server?.stop();
    await rm(stateDir, { recursive: true, force: true });
    await rm(profileDir, { recursive: true, force: true });
  });

  it("sends a 10 MiB photo from the browser to the phone, whose SHA-256 matches", async () => {
    // Made in the page: Playwright's setInputFiles sends a file through the DevTools protocol at about 3 MiB/s, which is not the app's time.
    const sha256 = await page.evaluate(async (size) => {
      const bytes = new Uint8Array(size);
      for (let offset = 0; offset < size; offset += 65_536) crypto.getRandomValues(bytes.subarray(offset, offset + 65_536));
      const files = new DataTransfer();
      files.items.add(new File([bytes], "big.png", { type: "image/png" }));
      (document.getElementById("attach-input") as HTMLInputElement).files = files.files;
      return [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))].map((byte) => byte.toString(16).padStart(2, "0")).join("");
    }, 10 * MiB);
    // The photo goes to the open chat: one is opened first (setInputFiles took long enough for the first to open by itself).
    await page.locator(".chat-item").first().click();
    // Timed in the page, from the file picked to its bubble, on the same clock as the phone's receipt below.
    const sentAt = await page.evaluate(() => {
      const bubbled = new MutationObserver(() => {
        if (!document.querySelector(".bubble.mine .attachment.photo")) return;
        (window as { uploadedAt?: number }).uploadedAt = Date.now();
        bubbled.disconnect();
      });
      bubbled.observe(document.body, { childList: true, subtree: true });
      document.getElementById("attach-input")!.dispatchEvent(new Event("change"));
      return Date.now();
    });
    await page.locator(".bubble.mine .attachment.photo").last().waitFor({ timeout: 20_000 });
    await phone.waitForOutput(new RegExp(`received big\\.png \\(${10 * MiB} bytes, sha256 ${sha256}\\)`), 20_000);
    const elapsed = Date.now() - sentAt;
    const uploaded = (await page.evaluate(() => (window as { uploadedAt?: number }).uploadedAt!)) - sentAt;
    console.log(`10 MiB photo, browser to phone end to end: ${elapsed} ms (sealed and uploaded in ${uploaded} ms)`);
  });

  it("shows a contact's photo as a thumbnail that opens full size", async () => {
    await page.fill("#composer-input", "Can you send me a photo?");
    await page.press("#composer-input", "Enter");
    const thumbnail = page.locator(".bubble.theirs .attachment.photo img").last();
    await thumbnail.waitFor({ timeout: 8_000 });
    expect(await thumbnail.getAttribute("src")).toMatch(/^data:image\/png;base64,/);
    await saveArtifact("media-thumbnail", await page.screenshot());
    await thumbnail.click();
    await page.waitForSelector("#media-viewer[open]", { timeout: 5_000 });
    await page.waitForFunction(() => (document.getElementById("media-viewer-image") as HTMLImageElement).naturalWidth === 480, null, { timeout: 5_000 });
    await saveArtifact("media-full-size", await page.screenshot());
    await page.keyboard.press("Escape");
  });

  it("refuses a photo over 16 MiB with a clear message before anything is uploaded", async () => {
    const uploads: string[] = [];
    page.on("request", (request) => {
      if (request.url().includes("/api/blobs") && request.method() !== "GET") uploads.push(request.url());
    });
    await page.setInputFiles("#attach-input", { name: "huge.jpg", mimeType: "image/jpeg", buffer: Buffer.alloc(16 * MiB + 1) });
    await page.waitForSelector("#media-status[data-error]:not([hidden])");
    expect(await page.locator("#media-status").textContent()).toBe("huge.jpg: Photos may be at most 16 MiB.");
    expect(uploads).toEqual([]);
  });

  it("stores only ciphertext: a known file sent while the phone is away is nowhere on disk in clear, and reaches the phone when it is back", async () => {
    phone.interrupt();
    await phone.done;
    const marker = "THE-KNOWN-PLAINTEXT-OF-A-FILE";
    const text = Buffer.from(`${marker}\n`.repeat(5_000));
    await page.setInputFiles("#attach-input", { name: "notes.txt", mimeType: "text/plain", buffer: text });
    await page.locator(".bubble.mine .attachment.file", { hasText: "notes.txt" }).waitFor({ timeout: 5_000 });
    let stored = 0;
    for (const file of await filesUnder(stateDir)) {
      const content = await readFile(file);
      expect(content.includes(marker), `${file} holds the plaintext`).toBe(false);
      stored += content.length;
    }
    expect(stored).toBeGreaterThan(text.length);
    phone = spawnPhone(["online", ...profile()]);
    const sha256 = createHash("sha256").update(text).digest("hex");
    await phone.waitForOutput(new RegExp(`received notes\\.txt \\(${text.length} bytes, sha256 ${sha256}\\)`), 10_000);
  });

  it("keeps what it fetched within its bound in IndexedDB, evicting the least recently opened first, even with two kept at once", async () => {
    // The cache's own code, bundled for a page of its own (its own IndexedDB), with a bound of 3,000 bytes and a clock that ticks per use.
    const bundled = await bundleForPage('export { MediaCache } from "./src/clients/browser/media-cache"; export { claimLinkWriter } from "./src/clients/browser/link-store";', "cached");
    const tab = await (await chromium.newContext()).newPage();
    await tab.goto(`${server.url}/favicon.svg`);
    await tab.evaluate(bundled);
    const result = await tab.evaluate(async () => {
      type Cache = { keep(id: string, file: Blob, how: "sent" | "opened" | "received"): Promise<boolean>; get(id: string): Promise<Blob | null>; has(id: string): Promise<boolean> };
      const { MediaCache, claimLinkWriter } = (window as unknown as { cached: { MediaCache: new (limit: number, now: () => number) => Cache; claimLinkWriter(): Promise<void> } }).cached;
      await claimLinkWriter();
      let tick = 0;
      const cache = new MediaCache(3_000, () => ++tick);
      const file = (bytes: number) => new Blob([new Uint8Array(bytes).fill(bytes % 251)]);
      const kept = async () => (await Promise.all(["a", "b", "c", "d", "e", "f", "g", "h", "huge"].map(async (id) => ((await cache.has(id)) ? id : null)))).filter(Boolean);
      for (const id of ["a", "b", "c"]) await cache.keep(id, file(1_000), "opened");
      await cache.get("a");
      const fourth = await cache.keep("d", file(1_000), "opened");
      const afterFourth = await kept();
      const huge = await cache.keep("huge", file(3_001), "opened");
      const afterHuge = await kept();
      await Promise.all([cache.keep("e", file(1_500), "opened"), cache.keep("f", file(1_500), "sent")]);
      const opened = await cache.get("e");
      const afterTwo = await kept();
      // A photo fetched in the background makes no room, and, kept, is never evicted before it is opened.
      const noRoom = await cache.keep("g", file(1), "received");
      await cache.keep("f", file(500), "sent");
      const unseen = await cache.keep("g", file(1_000), "received");
      const pushing = await cache.keep("h", file(2_000), "opened");
      return { fourth, afterFourth, huge, afterHuge, afterTwo, opened: opened && [...new Uint8Array(await opened.arrayBuffer()).slice(0, 2)].concat(opened.size), noRoom, unseen, pushing, afterUnseen: await kept() };
    });
    // Opening "a" made it the most recent: "b", used longest ago, made room for "d".
    expect(result.fourth).toBe(true);
    expect(result.afterFourth).toEqual(["a", "c", "d"]);
    // Larger than the whole cache: not kept, and nothing evicted for it.
    expect(result.huge).toBe(false);
    expect(result.afterHuge).toEqual(["a", "c", "d"]);
    // Two kept at once still leave no more than 3,000 bytes, each kept whole.
    expect(result.afterTwo).toEqual(["e", "f"]);
    expect(result.opened).toEqual([1_500 % 251, 1_500 % 251, 1_500]);
    expect(result.noRoom).toBe(false);
    expect(result.unseen).toBe(true);
    // "h" made room from the opened "e" and "f", never from the unseen "g".
    expect(result.pushing).toBe(true);
    expect(result.afterUnseen).toEqual(["g", "h"]);
    await tab.context().close();
  });

  it("tells the server again, once the relay is back, of a photo it keeps whose acknowledgement failed", async () => {
    // The first acknowledgement dies on the way; the photo is kept and noted as not yet acknowledged.
    let refused = 0;
    await page.route(/\/api\/blobs\/[\w-]{22}\/fetched$/, (route) => (refused++ === 0 ? route.abort("internetdisconnected") : route.continue()));
    await page.fill("#composer-input", "A photo for the record please");
    await page.press("#composer-input", "Enter");
    await expect.poll(() => storedKeys(page).then((keys) => keys.filter((key) => key.startsWith("media-unacknowledged:"))), { timeout: 10_000 }).toHaveLength(1);
    const blobId = (await storedKeys(page)).find((key) => key.startsWith("media-unacknowledged:"))!.slice("media-unacknowledged:".length);
    expect(await storedKeys(page)).toContain(`media:${blobId}`);

    const acknowledged = page.waitForResponse((response) => response.url().endsWith(`/${blobId}/fetched`) && response.status() === 200, { timeout: 15_000 });
    await page.context().setOffline(true);
    await page.context().setOffline(false);
    await acknowledged;
    await expect.poll(() => storedKeys(page).then((keys) => keys.filter((key) => key.startsWith("media-unacknowledged:"))), { timeout: 10_000 }).toEqual([]);
    await page.unrouteAll();
  });

  it("logging out while a photo downloads and a file uploads leaves nothing of the account in IndexedDB, however late they finish", async () => {
    // The contact's photo and the file's part reach the server while linked; their answers reach the page only after the logout.
    const held: { route: Route; answer: Promise<APIResponse> }[] = [];
    await page.route((url) => /^\/api\/blobs\/[\w-]{22}(\/parts\/\d+)?$/.test(url.pathname), (route) => void held.push({ route, answer: route.fetch() }));
    await page.fill("#composer-input", "One more photo please");
    await page.press("#composer-input", "Enter");
    await page.setInputFiles("#attach-input", { name: "pending.bin", mimeType: "application/octet-stream", buffer: Buffer.alloc(64 * 1024, 7) });
    await expect.poll(() => held.map(({ route }) => route.request().method()).sort(), { timeout: 10_000 }).toEqual(["GET", "PUT"]);
    expect(await storedKeys(page)).toEqual(expect.arrayContaining([expect.stringMatching(/^upload:/), expect.stringMatching(/^upload-file:/)]));
    for (const { answer } of held) expect((await answer).status()).toBe(200);

    await page.click("#logout");
    await page.waitForSelector("body[data-state=pending]", { timeout: 15_000 });
    // The answers arrive now: a download that was not stopped would decrypt the photo and keep it.
    for (const { route, answer } of held) await route.fulfill({ response: await answer }).catch(() => undefined);
    await Promise.all(held.map(({ route }) => route.request().response().catch(() => null)));
    // Time for a late download to check and keep its photo, as it took before the logout.
    await page.waitForTimeout(1_000);
    // Only the id of this tab, claimed again for the next link: no chat, photo, upload or secret.
    expect(await storedKeys(page)).toEqual(["writer"]);
    await page.unrouteAll();
  });
});

/** Every key in the link's IndexedDB store. */
function storedKeys(page: Page): Promise<string[]> {
  return page.evaluate(
    () =>
      new Promise<string[]>((resolve, reject) => {
        const open = indexedDB.open("qr-link");
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const keys = open.result.transaction("link").objectStore("link").getAllKeys();
          keys.onsuccess = () => {
            resolve(keys.result.map(String));
            open.result.close();
          };
        };
      }),
  );
}
