// A browser linked by the phone page, as the Chromium suites that use many
// devices make one, and the steps they take on its chat screen.
import type { Browser, BrowserContext, Page } from "playwright-core";

export interface LinkedPage {
  context: BrowserContext;
  page: Page;
}

/** A new browser (its own context: its own IndexedDB) showing a fresh code; `initScript` runs before the page's own. */
export async function newBrowser(chromium: Browser, serverUrl: string, initScript?: () => void): Promise<LinkedPage & { qrText: string }> {
  const context = await chromium.newContext({ viewport: { width: 1280, height: 720 } });
  if (initScript) await context.addInitScript(initScript);
  const page = await context.newPage();
  await page.goto(serverUrl);
  await page.waitForFunction(() => Boolean(document.querySelector<HTMLElement>("#qr")?.dataset.text), null, { timeout: 15_000 });
  return { context, page, qrText: (await page.locator("#qr").getAttribute("data-text"))! };
}

/** The number the browser shows for the phone to pick, once it shows one. */
export async function shownNumber(page: Page): Promise<string> {
  await page.waitForFunction(() => /^\d{2}$/.test(document.getElementById("match-number")?.textContent ?? ""), null, { timeout: 15_000 });
  return (await page.locator("#match-number").textContent())!;
}

/** Links a new browser with the phone page, by pasting its code and tapping its number. */
export async function linkWithPhonePage(chromium: Browser, serverUrl: string, phonePage: Page, initScript?: () => void): Promise<LinkedPage> {
  const { context, page, qrText } = await newBrowser(chromium, serverUrl, initScript);
  await phonePage.click("#start-link");
  await phonePage.fill("#paste-form input[name=text]", qrText);
  await phonePage.click("#paste-form button[type=submit]");
  await phonePage.waitForSelector("body[data-screen=confirm]", { timeout: 15_000 });
  await phonePage.click(`#match-choices button[data-choice="${await shownNumber(page)}"]`);
  await showsChats(page);
  return { context, page };
}

export async function showsChats(page: Page): Promise<void> {
  await page.waitForSelector("body[data-state=chat]", { timeout: 15_000 });
  await page.waitForFunction(() => document.querySelectorAll(".chat-item").length >= 20, null, { timeout: 15_000 });
}

export async function openChat(page: Page, title: string): Promise<void> {
  await page.locator(".chat-item", { hasText: title }).click();
  await page.waitForFunction((name) => document.getElementById("conversation-title")?.textContent?.startsWith(name), title, { timeout: 15_000 });
}
