// The open conversation as chat-render.ts draws it, in Chromium: an older
// page put before while a new message arrives, a tick that changes, and
// switching chats and back each show every message once and in order, and a
// tick redraws only its own bubble.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleForPage, launchChromium, missingTools } from "./chromium";

const skipReason = missingTools();

/** A message as the state holds it: `status` only on messages of "me". */
interface Drawn {
  id: string;
  status?: "pending" | "sent" | "delivered" | "read";
}

describe.skipIf(skipReason)("drawing the open conversation, in Chromium", () => {
  let chromium: Browser;
  let page: Page;

  beforeAll(async () => {
    const bundled = await bundleForPage('export { renderChats } from "./src/clients/browser/chat-render";', "render");
    chromium = await launchChromium();
    page = await chromium.newPage();
    await page.setContent(
      '<div id="phone-banner"></div><ul id="chat-list"></ul><h2 id="conversation-title"></h2><ol id="messages" style="height:200px;overflow:auto"></ol><input id="composer-input">',
    );
    await page.evaluate(bundled);
  });

  afterAll(async () => {
    await chromium?.close();
  });

  /**
   * Draws `chats` with `selected` open, as ChatState would give them, and
   * returns the conversation's bubbles: each one's id, status, and whether
   * it is the same node as before this drawing.
   */
  function draw(chats: Record<string, Drawn[]>, selected: string): Promise<{ id: string; status: string | null; kept: boolean }[]> {
    return page.evaluate(
      ({ chats, selected }) => {
        const messages = document.getElementById("messages")!;
        for (const bubble of Array.from(messages.children)) (bubble as HTMLElement & { drawnBefore?: boolean }).drawnBefore = true;
        const views = Object.entries(chats).map(([id, list]) => ({
          chat: { id, title: `Chat ${id}`, group: false },
          unread: 0,
          messages: list.map((message, at) => ({ ...message, chatId: id, from: message.status ? "me" : "Ada", text: message.id, at: at * 60_000 })),
        }));
        const state = { selected, synced: true, list: () => views, chat: (id: string) => views.find((view) => view.chat.id === id), typing: () => null };
        (window as unknown as { render: { renderChats(state: unknown): void } }).render.renderChats(state);
        return Array.from(messages.children).map((bubble) => ({
          id: (bubble as HTMLElement).dataset.id!,
          status: (bubble as HTMLElement).dataset.status ?? null,
          kept: (bubble as HTMLElement & { drawnBefore?: boolean }).drawnBefore === true,
        }));
      },
      { chats, selected },
    );
  }

  const messages = (from: number, to: number): Drawn[] => Array.from({ length: to - from }, (_, i) => ({ id: `m${from + i}` }));
  const ids = (bubbles: { id: string }[]) => bubbles.map((bubble) => bubble.id);

  it("redraws only the bubble whose tick changed", async () => {
    const chats = { a: [...messages(10, 14), { id: "mine", status: "pending" as const }] };
    expect(ids(await draw(chats, "a"))).toEqual(["m10", "m11", "m12", "m13", "mine"]);
    chats.a[4] = { id: "mine", status: "delivered" };
    const bubbles = await draw(chats, "a");
    expect(bubbles.map(({ id, status, kept }) => [id, status, kept])).toEqual([
      ["m10", null, true],
      ["m11", null, true],
      ["m12", null, true],
      ["m13", null, true],
      ["mine", "delivered", false],
    ]);
  });

  it("shows each message once and in order when an older page comes with a new message, and when only one of them comes", async () => {
    const chats = { a: messages(10, 15) };
    await draw(chats, "a");
    chats.a = messages(5, 16);
    expect(ids(await draw(chats, "a"))).toEqual(ids(messages(5, 16)));
    chats.a = messages(0, 16);
    const older = await draw(chats, "a");
    expect(ids(older)).toEqual(ids(messages(0, 16)));
    // The page put before: what was drawn stays as it was.
    expect(older.filter((bubble) => bubble.kept).map((bubble) => bubble.id)).toEqual(ids(messages(5, 16)));
    chats.a = messages(0, 17);
    const newer = await draw(chats, "a");
    expect(ids(newer)).toEqual(ids(messages(0, 17)));
    expect(newer.filter((bubble) => !bubble.kept).map((bubble) => bubble.id)).toEqual(["m16"]);
  });

  it("shows each chat's own messages once, in order, switching from A to B and back", async () => {
    const chats = { a: messages(0, 6), b: [{ id: "b1" }, { id: "b2" }] };
    expect(ids(await draw(chats, "a"))).toEqual(ids(messages(0, 6)));
    expect(ids(await draw(chats, "b"))).toEqual(["b1", "b2"]);
    // A new message in A while B is open.
    chats.a = messages(0, 7);
    expect(ids(await draw(chats, "a"))).toEqual(ids(messages(0, 7)));
  });
});
