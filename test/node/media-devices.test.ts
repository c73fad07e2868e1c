// Photos and files on every device: two browsers linked to the phone page in
// real Chromium see a contact's photo as a thumbnail that opens full size,
// pixel for pixel; a photo sent from one browser opens on the other and on
// the phone page with the same SHA-256; a large upload cut by a reload goes
// on after it from the parts the server has; a download cut half way goes on
// from its last whole chunk, with its progress shown; a photo received or sent
// opens again after a reload once the server deleted it.
import { createHash, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Browser, Page, Response, Route } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generatedPhoto } from "../../src/clients/phone-core/generated-photo";
import { expectAccessible } from "./axe";
import { launchChromium, missingTools } from "./chromium";
import { startDevServer, type DevServer } from "./dev-server";
import { linkWithPhonePage, openChat, showsChats } from "./linked-browser";

const skipReason = missingTools();
const MiB = 1024 * 1024;
/** A chat no page has open when a test starts; its contact answers, and sends a photo when asked for one. */
const QUIET_CHAT = "Olivia Rossi";

const sha256Hex = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

describe.skipIf(skipReason)("photos and files on every linked device, in Chromium", () => {
  let server: DevServer;
  let chromium: Browser;
  let phonePage: Page;
  let a: Page;
  let b: Page;
  /** The large file A sends in one test, which B downloads in the next. */
  let archive: Buffer;

  /** The phone page's own chat screen, on `title`. */
  async function openChatOnPhone(title: string): Promise<void> {
    if ((await phonePage.locator("body").getAttribute("data-screen")) !== "chats") await phonePage.click("#open-chats");
    if ((await phonePage.locator(".phone-chats").getAttribute("data-open")) === "chat") await phonePage.click("#close-chat");
    await phonePage.locator(".chat-item", { hasText: title }).click();
  }

  /**
   * The photo the viewer shows full size, pixel for pixel against `png`:
   * both decoded and drawn in the page (its policy lets no script read a
   * blob: URL's bytes, but an image it shows can be drawn).
   */
  async function viewerShows(page: Page, png: Uint8Array): Promise<{ width: number; height: number; same: boolean }> {
    await page.waitForSelector("#media-viewer[open]", { timeout: 15_000 });
    await page.waitForFunction(() => (document.getElementById("media-viewer-image") as HTMLImageElement).complete, null, { timeout: 15_000 });
    return page.evaluate(async (base64) => {
      const pixels = async (source: ImageBitmapSource) => {
        const bitmap = await createImageBitmap(source);
        const context = new OffscreenCanvas(bitmap.width, bitmap.height).getContext("2d")!;
        context.drawImage(bitmap, 0, 0);
        return { width: bitmap.width, height: bitmap.height, data: context.getImageData(0, 0, bitmap.width, bitmap.height).data };
      };
      const shown = await pixels(document.getElementById("media-viewer-image") as HTMLImageElement);
      const sent = await pixels(new Blob([Uint8Array.from(atob(base64), (char) => char.charCodeAt(0))], { type: "image/png" }));
      return { width: shown.width, height: shown.height, same: shown.data.length === sent.data.length && shown.data.every((value, i) => value === sent.data[i]) };
    }, Buffer.from(png).toString("base64"));
  }

  /** Every text the media status line shows from now on (progress, errors), recorded in the page, and again from the start of each load after. */
  async function recordMediaStatus(page: Page): Promise<() => Promise<string[]>> {
    const record = () => {
      const start = () => {
        const seen: string[] = [];
        (window as unknown as { mediaStatus: string[] }).mediaStatus = seen;
        const status = document.getElementById("media-status")!;
        new MutationObserver(() => status.textContent && seen.push(status.textContent)).observe(status, { childList: true, characterData: true, subtree: true });
      };
      if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
      else start();
    };
    await page.addInitScript(record);
    await page.evaluate(record);
    return () => page.evaluate(() => (window as unknown as { mediaStatus: string[] }).mediaStatus);
  }

  /** From now on until `stop`: each upload part the server stored (answered 200), by number, and each blob created (an upload started from part 0). */
  function recordBlobWrites(page: Page): { stored: number[]; created: number; stop(): void } {
    const record = { stored: [] as number[], created: 0, stop: () => page.off("response", seen) };
    const seen = (response: Response) => {
      const { pathname } = new URL(response.url());
      const part = /^\/api\/blobs\/[\w-]{22}\/parts\/(\d+)$/.exec(pathname)?.[1];
      if (part && response.request().method() === "PUT" && response.status() === 200) record.stored.push(Number(part));
      if (pathname === "/api/blobs" && response.request().method() === "POST" && response.ok()) record.created++;
    };
    page.on("response", seen);
    return record;
  }

  /** The records this browser keeps in IndexedDB under `prefix`. */
  function storedKeys(page: Page, prefix: string): Promise<string[]> {
    return page.evaluate(
      (start) =>
        new Promise<string[]>((resolve, reject) => {
          const open = indexedDB.open("qr-link");
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const keys = open.result.transaction("link").objectStore("link").getAllKeys(IDBKeyRange.bound(start, `${start}\uffff`));
            keys.onsuccess = () => {
              resolve(keys.result.map(String));
              open.result.close();
            };
          };
        }),
      prefix,
    );
  }

  beforeAll(async () => {
    [server, chromium] = await Promise.all([startDevServer(), launchChromium()]);
    phonePage = await (await chromium.newContext({ viewport: { width: 400, height: 800 } })).newPage();
    await phonePage.goto(`${server.url}/phone?contacts=quiet`);
    await phonePage.fill("input[name=number]", "+15550091");
    await phonePage.fill("input[name=name]", "Nora");
    await phonePage.click("#register-form button[type=submit]");
    await phonePage.waitForSelector("body[data-screen=home]", { timeout: 15_000 });
    a = (await linkWithPhonePage(chromium, server.url, phonePage)).page;
    b = (await linkWithPhonePage(chromium, server.url, phonePage)).page;
    for (const page of [a, b]) await openChat(page, QUIET_CHAT);
  });

  afterAll(async () => {
    await chromium?.close();
    await server?.stop();
  });

  it("shows a contact's photo as a thumbnail on both browsers, and it opens full size on each, pixel for pixel the photo sent", async () => {
    // Asked for a photo, the contact sends one (the simulator answers every message; one asking for a photo gets a photo).
    await a.fill("#composer-input", "Can you send me a photo?");
    await a.press("#composer-input", "Enter");
    for (const page of [a, b]) {
      const thumbnail = page.locator(".bubble.theirs .attachment.photo img");
      await thumbnail.waitFor({ timeout: 15_000 });
      expect(await thumbnail.getAttribute("src")).toMatch(/^data:image\/png;base64,/);
      expect(await thumbnail.evaluate((image: HTMLImageElement) => image.complete && image.naturalWidth)).toBe(48);
    }
    // The simulator draws the photo from a seed its name carries: the test draws the same and compares the pixels.
    const label = (await a.locator(".bubble.theirs .attachment.photo").getAttribute("aria-label"))!;
    const seed = Number(/^Open photo photo-(\d+)\.png$/.exec(label)?.[1]);
    const expected = await generatedPhoto(seed, 480, 320);
    for (const page of [a, b]) {
      await page.locator(".bubble.theirs .attachment.photo").click();
      expect(await viewerShows(page, expected)).toEqual({ width: 480, height: 320, same: true });
      await page.keyboard.press("Escape");
      await page.waitForSelector("#media-viewer:not([open])", { state: "attached", timeout: 15_000 });
    }
  });

  it("shows a photo sent from browser A on browser B and on the phone page, where it opens full size as sent (the phone's copy has the SHA-256 of the original)", async () => {
    const photo = Buffer.from(await generatedPhoto(4242, 640, 400));
    const sha256 = sha256Hex(photo);
    await a.setInputFiles("#attach-input", { name: "from-a.png", mimeType: "image/png", buffer: photo });
    await a.locator(".bubble.mine .attachment.photo[aria-label='Open photo from-a.png']").waitFor({ timeout: 15_000 });

    const onB = b.locator(".bubble.mine .attachment.photo[aria-label='Open photo from-a.png']");
    await onB.waitFor({ timeout: 15_000 });
    expect(await onB.locator("img").getAttribute("src")).toMatch(/^data:image\/jpeg;base64,/);
    await onB.click();
    expect(await viewerShows(b, photo)).toEqual({ width: 640, height: 400, same: true });
    await b.keyboard.press("Escape");
    await b.waitForSelector("#media-viewer:not([open])", { state: "attached", timeout: 15_000 });

    await phonePage.locator("#activity li", { hasText: `Fetched from-a.png (${photo.length} bytes, sha256 ${sha256})` }).waitFor({ state: "attached", timeout: 15_000 });
    await openChatOnPhone(QUIET_CHAT);
    await phonePage.locator(".bubble.mine .attachment.photo[aria-label='Open photo from-a.png']").click();
    expect(await viewerShows(phonePage, photo)).toEqual({ width: 640, height: 400, same: true });
    await phonePage.keyboard.press("Escape");
    await phonePage.click("#close-chat");
  });

  it("goes on with a large file's upload cut by a reload, from the parts the server has, and the phone receives it whole", async () => {
    const file = (archive = randomBytes(12 * MiB));
    const sha256 = sha256Hex(file);
    // Part 1 goes through; parts 2 and 3 are held on the way until the page reloads.
    const puts: { part: number; afterReload: boolean }[] = [];
    const held: Route[] = [];
    let reloaded = false;
    await a.route(/\/api\/blobs\/[\w-]{22}\/parts\/\d+$/, async (route) => {
      const part = Number(/(\d+)$/.exec(route.request().url())![1]);
      puts.push({ part, afterReload: reloaded });
      if (reloaded || part === 1) return route.continue();
      held.push(route);
    });
    const statusSeen = await recordMediaStatus(a);
    const writes = recordBlobWrites(a);
    const part1Stored = a.waitForResponse((response) => /\/parts\/1$/.test(response.url()) && response.status() === 200, { timeout: 15_000 });
    await a.fill("#composer-input", "The archive");
    await a.setInputFiles("#attach-input", { name: "archive.bin", mimeType: "application/octet-stream", buffer: file });
    await part1Stored;
    await a.waitForFunction(() => document.getElementById("media-status")?.textContent?.includes("%"), null, { timeout: 15_000 });
    expect(held.length).toBeGreaterThan(0);
    await expect.poll(statusSeen, { timeout: 15_000 }).toEqual(["Sending archive.bin… 0%", "Sending archive.bin… 40%"]);
    await expectAccessible(a, "chat screen, an upload under way");
    expect(await storedKeys(a, "upload")).toHaveLength(2);

    reloaded = true;
    await a.reload();
    for (const route of held) await route.abort().catch(() => undefined);
    await showsChats(a);
    await openChat(a, QUIET_CHAT);
    await a.locator(".bubble.mine .attachment.file", { hasText: "archive.bin" }).waitFor({ timeout: 30_000 });
    await phonePage.locator("#activity li", { hasText: `Fetched archive.bin (${file.length} bytes, sha256 ${sha256})` }).waitFor({ state: "attached", timeout: 30_000 });
    // After the reload it went on from the part stored before it, and only the parts R2 lacked went up.
    const resumed = await statusSeen();
    expect(resumed.slice(0, 2)).toEqual(["Resuming archive.bin… 0%", "Resuming archive.bin… 40%"]);
    expect(resumed.at(-1)).toBe("Resuming archive.bin… 100%");
    expect(puts.filter((put) => put.afterReload).map((put) => put.part).sort()).toEqual([2, 3]);
    // One blob, each of its parts stored once.
    writes.stop();
    expect({ created: writes.created, stored: writes.stored.sort() }).toEqual({ created: 1, stored: [1, 2, 3] });
    expect(await a.locator(".bubble.mine .attachment.file", { hasText: "archive.bin" }).count()).toBe(1);
    await b.locator(".bubble.mine .attachment.file", { hasText: "archive.bin" }).waitFor({ timeout: 15_000 });
    await b.locator(".bubble.mine", { hasText: "The archive" }).waitFor({ timeout: 15_000 });
    // Sent: the kept upload and its copy of the file are gone from IndexedDB.
    await expect.poll(() => storedKeys(a, "upload"), { timeout: 15_000 }).toEqual([]);
    await a.unroute(/\/api\/blobs\/[\w-]{22}\/parts\/\d+$/);
  });

  it("goes on with a download cut half way from its last whole chunk, showing its progress, and saves the file whole", async () => {
    // B downloads the archive A sent; the first response breaks off 40% of the way, as a dropped connection does
    // (the page's fetch errors its body with a TypeError; Chromium's own offline switch does not cut a response under way).
    await b.evaluate(() => {
      const record = window as unknown as { blobRanges: (string | null)[] };
      record.blobRanges = [];
      const fetchOnTheLine = window.fetch;
      window.fetch = async (input, init) => {
        const request = new Request(input, init);
        const response = await fetchOnTheLine(request);
        if (!/\/api\/blobs\/[\w-]{22}$/.test(new URL(request.url).pathname)) return response;
        record.blobRanges.push(request.headers.get("range"));
        if (record.blobRanges.length > 1) return response;
        const cutAt = Math.floor(Number(response.headers.get("content-length")) * 0.4);
        let passed = 0;
        const cut = new TransformStream<Uint8Array, Uint8Array>({
          transform(piece, controller) {
            if (passed + piece.length > cutAt) return controller.error(new TypeError("network error"));
            passed += piece.length;
            controller.enqueue(piece);
          },
        });
        return new Response(response.body!.pipeThrough(cut), { status: response.status, headers: response.headers });
      };
    });
    const statusSeen = await recordMediaStatus(b);
    const download = b.waitForEvent("download", { timeout: 30_000 });
    await b.locator(".bubble.mine .attachment.file", { hasText: "archive.bin" }).getByRole("button", { name: "Download archive.bin" }).click();
    const saved = await readFile((await (await download).path())!);
    expect(sha256Hex(saved)).toBe(sha256Hex(archive));
    const ranges = await b.evaluate(() => (window as unknown as { blobRanges: (string | null)[] }).blobRanges);
    expect(ranges).toHaveLength(2);
    expect(ranges[0]).toBeNull();
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(ranges[1] ?? "")?.[1]);
    expect(resumedAt).toBeGreaterThan(0.3 * archive.length);
    expect(resumedAt % (64 * 1024 + 16)).toBe(0);
    const progress = (await statusSeen()).map((text) => Number(/^Fetching archive\.bin… (\d+)%$/.exec(text)?.[1])).filter((percent) => !Number.isNaN(percent));
    expect(progress).toContain(30);
    expect(progress.at(-1)).toBe(100);
    // The drop cost no part already fetched: the percentages only went up.
    expect(progress).toEqual([...progress].sort((x, y) => x - y));
  });

  it("sends a file again from the copy it kept when the server no longer has its cut upload (it expired), and says so", async () => {
    const file = randomBytes(6 * MiB);
    const sha256 = sha256Hex(file);
    const partsPath = /\/api\/blobs\/([\w-]{22})\/parts\/(\d+)$/;
    const held: Route[] = [];
    let expiredBlob: string | undefined;
    await a.route(partsPath, async (route) => {
      if (expiredBlob || route.request().url().endsWith("/parts/1")) return route.continue();
      held.push(route);
    });
    // After the reload the server answers for the cut upload as it does once its blob expired (test/worker/blobs.test.ts drives that expiry).
    await a.route(/\/api\/blobs\/[\w-]{22}\/upload$/, (route) =>
      route.request().url().includes(`/${expiredBlob}/`)
        ? route.fulfill({ status: 403, contentType: "application/json", body: JSON.stringify({ error: { code: "forbidden", message: "no blob with this id belongs to this account: it never did, or every device fetched it, or it expired" } }) })
        : route.continue(),
    );
    const statusSeen = await recordMediaStatus(a);
    const part1Stored = a.waitForResponse((response) => /\/parts\/1$/.test(response.url()) && response.status() === 200, { timeout: 15_000 });
    await a.fill("#composer-input", "Sent again");
    await a.setInputFiles("#attach-input", { name: "expired.bin", mimeType: "application/octet-stream", buffer: file });
    const cutBlob = partsPath.exec((await part1Stored).url())![1]!;
    await expect.poll(() => held.length, { timeout: 15_000 }).toBeGreaterThan(0);

    expiredBlob = cutBlob;
    await a.reload();
    for (const route of held) await route.abort().catch(() => undefined);
    await showsChats(a);
    await openChat(a, QUIET_CHAT);
    await phonePage.locator("#activity li", { hasText: `Fetched expired.bin (${file.length} bytes, sha256 ${sha256})` }).waitFor({ state: "attached", timeout: 30_000 });
    expect(await statusSeen()).toContain("Sending expired.bin again from the start (its unfinished upload had expired)… 0%");
    for (const page of [a, b]) await page.locator(".bubble.mine", { hasText: "Sent again" }).locator(".attachment.file", { hasText: "expired.bin" }).waitFor({ timeout: 15_000 });
    expect(await a.locator(".bubble.mine", { hasText: "Sent again" }).count()).toBe(1);
    await expect.poll(() => storedKeys(a, "upload"), { timeout: 15_000 }).toEqual([]);
    await a.unrouteAll();
  });

  it("goes on with an upload the connection dropped under, once the browser is online again, without sending a stored part twice", async () => {
    const file = randomBytes(12 * MiB);
    const sha256 = sha256Hex(file);
    const partsPath = /\/api\/blobs\/[\w-]{22}\/parts\/(\d+)$/;
    const puts: { part: number; online: boolean }[] = [];
    let online = true;
    await a.route(partsPath, async (route) => {
      const part = Number(partsPath.exec(route.request().url())![1]);
      puts.push({ part, online });
      // Part 1 is stored before the line drops; what follows fails as requests do on a dead line.
      if (part === 1 || online) return route.continue();
      await route.abort("internetdisconnected");
    });
    const statusSeen = await recordMediaStatus(a);
    const writes = recordBlobWrites(a);
    const part1Stored = a.waitForResponse((response) => /\/parts\/1$/.test(response.url()) && response.status() === 200, { timeout: 15_000 });
    online = false;
    await a.fill("#composer-input", "Through a dropped line");
    await a.setInputFiles("#attach-input", { name: "dropped.bin", mimeType: "application/octet-stream", buffer: file });
    await part1Stored;
    await a.context().setOffline(true);
    await a.waitForSelector("#media-status[data-error]:not([hidden])", { timeout: 15_000 });
    expect(await a.locator("#media-status").textContent()).toMatch(/^dropped\.bin: the upload stopped \(.+\)\. It is tried again when the connection is back, or when this page is opened again\.$/);
    await expectAccessible(a, "chat screen, an upload stopped");

    online = true;
    await a.context().setOffline(false);
    await phonePage.locator("#activity li", { hasText: `Fetched dropped.bin (${file.length} bytes, sha256 ${sha256})` }).waitFor({ state: "attached", timeout: 30_000 });
    expect((await statusSeen()).filter((text) => text.startsWith("Resuming dropped.bin… ")).slice(0, 2)).toEqual(["Resuming dropped.bin… 0%", "Resuming dropped.bin… 40%"]);
    expect(puts.filter((put) => put.part === 1)).toHaveLength(1);
    for (const page of [a, b]) await page.locator(".bubble.mine", { hasText: "Through a dropped line" }).locator(".attachment.file", { hasText: "dropped.bin" }).waitFor({ timeout: 15_000 });
    await expect.poll(() => storedKeys(a, "upload"), { timeout: 15_000 }).toEqual([]);
    // Back online and the relay back at once both resumed it: one run went on with the one blob, each part stored once, the message sent once.
    writes.stop();
    expect({ created: writes.created, stored: writes.stored.sort() }).toEqual({ created: 1, stored: [1, 2, 3] });
    for (const page of [a, b]) expect(await page.locator(".bubble.mine", { hasText: "Through a dropped line" }).count()).toBe(1);
    await a.unrouteAll();
  });

  it("takes a file attached while offline on a page that never asked the limits, shows it waiting, and sends it once the browser is online", async () => {
    const file = randomBytes(200 * 1024);
    const sha256 = sha256Hex(file);
    // A fresh page has not asked the server for the limits; offline, it cannot.
    await a.reload();
    await showsChats(a);
    await openChat(a, QUIET_CHAT);
    await a.context().setOffline(true);
    try {
      await a.fill("#composer-input", "Attached offline");
      await a.setInputFiles("#attach-input", { name: "offline.bin", mimeType: "application/octet-stream", buffer: file });
      await a.waitForSelector("#media-status[data-error]:not([hidden])", { timeout: 15_000 });
      expect(await a.locator("#media-status").textContent()).toMatch(/^offline\.bin: the upload stopped \(.+\)\. It is tried again when the connection is back, or when this page is opened again\.$/);
      expect(await storedKeys(a, "upload")).toHaveLength(2);
    } finally {
      // Online again whatever happened, so a failure here does not fail the tests after it.
      await a.context().setOffline(false);
    }
    await phonePage.locator("#activity li", { hasText: `Fetched offline.bin (${file.length} bytes, sha256 ${sha256})` }).waitFor({ state: "attached", timeout: 30_000 });
    for (const page of [a, b]) await page.locator(".bubble.mine", { hasText: "Attached offline" }).locator(".attachment.file", { hasText: "offline.bin" }).waitFor({ timeout: 15_000 });
    for (const page of [a, b]) expect(await page.locator(".bubble.mine", { hasText: "Attached offline" }).count()).toBe(1);
    await expect.poll(() => storedKeys(a, "upload"), { timeout: 15_000 }).toEqual([]);
  });

  it("keeps the photos it received or sent: after a reload, with the server's copy deleted, they open full size from this browser alone; one no longer kept says so; logging out forgets them", async () => {
    // Both browsers fetch a photo as it arrives, clicked or not: the second to say so has the server delete it.
    const deletedOn = (page: Page) => page.waitForResponse(async (response) => /\/api\/blobs\/[\w-]{22}\/fetched$/.test(response.url()) && (await response.json()).deleted === true, { timeout: 15_000 });
    const deleted = Promise.any([deletedOn(a), deletedOn(b)]);
    const photos = a.locator(".bubble.theirs .attachment.photo");
    const before = await photos.count();
    await a.fill("#composer-input", "One more photo, please");
    await a.press("#composer-input", "Enter");
    await expect.poll(() => photos.count(), { timeout: 15_000 }).toBe(before + 1);
    const blobId = (await photos.last().getAttribute("data-blob"))!;
    const seed = Number(/^Open photo photo-(\d+)\.png$/.exec((await photos.last().getAttribute("aria-label"))!)?.[1]);
    const expected = await generatedPhoto(seed, 480, 320);
    await deleted;

    const blobDownloads: string[] = [];
    for (const page of [a, b]) page.on("request", (request) => /\/api\/blobs\/[\w-]{22}$/.test(request.url()) && blobDownloads.push(request.url()));
    // A never clicked this photo, B neither; A also opens the one it sent itself (earlier test), which the phone and B fetched, so the server deleted it.
    const shown: [Page, string, Uint8Array, { width: number; height: number }][] = [
      [a, `[data-blob='${blobId}']`, expected, { width: 480, height: 320 }],
      [b, `[data-blob='${blobId}']`, expected, { width: 480, height: 320 }],
      [a, ".bubble.mine .attachment.photo[aria-label='Open photo from-a.png']", await generatedPhoto(4242, 640, 400), { width: 640, height: 400 }],
    ];
    for (const page of [a, b]) {
      await page.reload();
      await showsChats(page);
      await openChat(page, QUIET_CHAT);
    }
    for (const [page, photo, png, size] of shown) {
      await page.locator(photo).click();
      expect(await viewerShows(page, png)).toEqual({ ...size, same: true });
      await page.keyboard.press("Escape");
      await page.waitForSelector("#media-viewer:not([open])", { state: "attached", timeout: 15_000 });
    }
    expect(blobDownloads).toEqual([]);

    // Evicted from B's copies (as the least recently used are when the cache is full): the server has it no more, and B says what to do.
    await b.evaluate(
      (id) =>
        new Promise<void>((resolve, reject) => {
          const open = indexedDB.open("qr-link");
          open.onsuccess = () => {
            const transaction = open.result.transaction("link", "readwrite");
            for (const key of [`media:${id}`, `media-entry:${id}`]) transaction.objectStore("link").delete(key);
            transaction.oncomplete = () => (open.result.close(), resolve());
            transaction.onerror = () => reject(transaction.error);
          };
        }),
      blobId,
    );
    await b.reload();
    await showsChats(b);
    await openChat(b, QUIET_CHAT);
    await b.locator(`[data-blob='${blobId}']`).click();
    await b.waitForSelector("#media-status:not([hidden])", { timeout: 15_000 });
    expect(await b.locator("#media-status").textContent()).toBe(
      `photo-${seed}.png is no longer available: the server deleted it once every device had it, and this browser no longer keeps a copy. Ask the phone to send it again.`,
    );
    expect(await b.locator("#media-status").getAttribute("data-error")).toBeNull();
    expect(await b.locator("#media-viewer").getAttribute("open")).toBeNull();
    expect(blobDownloads).toHaveLength(1);
    await expectAccessible(b, "chat screen, a photo no longer available");

    // Logging out forgets the link, and every photo and file kept with it.
    expect(await storedKeys(a, "media")).toEqual(expect.arrayContaining([`media:${blobId}`, `media-entry:${blobId}`]));
    await a.click("#logout");
    await a.waitForSelector("body:not([data-state=chat])", { timeout: 15_000 });
    await expect.poll(() => storedKeys(a, "media"), { timeout: 15_000 }).toEqual([]);
  });
});
