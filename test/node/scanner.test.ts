// The phone page's scanner as a camera sees a QR code: Chromium's fake camera
// plays frames made from the live code (a screenshot of it, or the same code
// degraded), and the page must read every frame zbar reads. The CLI's --image
// reads the same frames. A denied camera says how to allow it.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { chromium as playwright, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readQrFromImage } from "../../src/clients/phone-cli/read-image";
import { DEGRADATIONS, writeCameraFrames, type Degradation } from "./camera-frames";
import { ARTIFACTS, CHROMIUM_ARGS, CHROMIUM_PATH, decodeWithJsqr, decodeWithZbar, launchChromium, missingTools } from "./chromium";
import { startDevServer, type DevServer } from "./dev-server";
import { SocketBrowser } from "./phone-cli";
import { renderQrPng } from "./qr-image";

const skipReason = missingTools();
const FRAMES = join(ARTIFACTS, "..", "scanner");
/** How long the page gets to read a frame (the jsQR page never read the 160 px frame in 20 s). */
const READ_WITHIN_MS = 8_000;

describe.skipIf(skipReason)("the phone page's scanner", () => {
  let server: DevServer;
  let chromium: Browser;
  let phones = 0;

  beforeAll(async () => {
    [server, chromium] = await Promise.all([startDevServer(), launchChromium(), mkdir(FRAMES, { recursive: true })]);
  });
  afterAll(async () => {
    await chromium?.close();
    await server?.stop();
  });

  /** A Chromium whose camera shows `y4m` (or whose camera is refused), with a registered phone page on its scan screen. */
  async function scanningPhone(camera: { y4m: string } | "denied"): Promise<{ browser: Browser; page: Page }> {
    const cameraArgs = camera === "denied" ? ["--use-fake-device-for-media-stream", "--deny-permission-prompts"] : ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", `--use-file-for-fake-video-capture=${camera.y4m}`];
    const browser = await playwright.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS, ...cameraArgs] });
    const page = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
    await page.goto(`${server.url}/phone?contacts=quiet`);
    await page.fill("input[name=number]", `+1555200${String(phones++).padStart(4, "0")}`);
    await page.fill("input[name=name]", "Scanner");
    await page.click("#register-form button[type=submit]");
    await page.waitForSelector("body[data-screen=home]", { timeout: 15_000 });
    await page.click("#start-link");
    await page.waitForSelector("body[data-screen=scan]");
    return { browser, page };
  }

  /** Whether the page, shown `codePng` degraded, reads the live code within READ_WITHIN_MS (it reaches the confirm screen). */
  async function pageReads(y4m: string): Promise<{ read: boolean; page: Page; browser: Browser }> {
    const { browser, page } = await scanningPhone({ y4m });
    const read = await page
      .waitForSelector("body[data-screen=confirm]", { timeout: READ_WITHIN_MS })
      .then(() => true)
      .catch(() => false);
    return { read, page, browser };
  }

  it("links from a fake camera playing a screenshot of the live QR code, tilted and washed out", async () => {
    const qrPage = await (await chromium.newContext({ viewport: { width: 1280, height: 720 } })).newPage();
    await qrPage.goto(server.url);
    await qrPage.waitForSelector("body[data-state=pending]");
    const screenshot = await qrPage.locator("#qr").screenshot();
    const frames = await writeCameraFrames(screenshot, { name: "live", sizePx: 200, tiltDeg: 8, blur: 0.8, contrast: 0.5 }, join(FRAMES, "live"));
    const { read, page, browser } = await pageReads(frames.y4m);
    expect(read, "the page read the code off the camera").toBe(true);
    await qrPage.waitForSelector("body[data-state=scanned]", { timeout: 2_000 });
    const number = (await qrPage.locator("#match-number").textContent())!;
    await page.click(`#match-choices button[data-choice="${number}"]`);
    await qrPage.waitForSelector("body[data-state=chat]", { timeout: 15_000 });
    await browser.close();
  });

  it("says how to allow a denied camera, instead of a black box", async () => {
    const { browser, page } = await scanningPhone("denied");
    await page.getByText("The camera is blocked for this page. To allow it").waitFor({ timeout: 15_000 });
    expect(await page.locator("#camera").isVisible()).toBe(false);
    expect(await page.locator("#paste-form input").isVisible()).toBe(true);
    await browser.close();
  });

  it("reads every degraded frame zbar reads, as the CLI does; guides the user and offers paste and picture while it reads nothing", async () => {
    const rows: { degradation: Degradation; zbar: boolean; jsqr: boolean; cli: boolean; page: boolean }[] = [];
    for (const [index, degradation] of DEGRADATIONS.entries()) {
      const live = await SocketBrowser.open(server.url);
      const text = await live.qrText();
      const frames = await writeCameraFrames(await renderQrPng(text), degradation, join(FRAMES, `frame-${index}`));
      const png = await readFile(frames.png);
      const { read, page, browser } = await pageReads(frames.y4m);
      if (!read) {
        // Nothing read: the page guided the user, and after 10 s offers the other routes.
        await page.getByText("Still no code? Paste the code's text or pick a picture of it below.").waitFor({ timeout: 12_000 - READ_WITHIN_MS + 1_000 });
      }
      rows.push({ degradation, zbar: (await decodeWithZbar(frames.png)) === text, jsqr: decodeWithJsqr(png)?.text === text, cli: (await readQrFromImage(frames.png)) === text, page: read });
      await browser.close();
      live.close();
    }
    const mark = (read: boolean) => (read ? "read" : "—");
    const table = [
      "| frame | zbarimg | jsQR (the old page) | CLI --image (ZXing) | page, fake camera (ZXing) |",
      "| --- | --- | --- | --- | --- |",
      ...rows.map((row) => `| ${row.degradation.name} | ${mark(row.zbar)} | ${mark(row.jsqr)} | ${mark(row.cli)} | ${mark(row.page)} |`),
    ].join("\n");
    console.log(table);
    await writeFile(join(FRAMES, "decoders.md"), `${table}\n`);
    for (const row of rows) {
      if (row.zbar) expect(row.page, `the page reads what zbar reads: ${row.degradation.name}`).toBe(true);
      expect(row.cli, `the CLI reads what the page reads: ${row.degradation.name}`).toBe(row.page);
    }
    expect(rows.some((row) => !row.page), "the set includes a frame nobody reads, so the guidance is seen").toBe(true);
  });
});
