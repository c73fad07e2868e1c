// The phone's change log (chat-book) and a browser's copy of the chats
// (ChatState): every change gets the next version, is applied once and in
// order, and a device that was away catches up on exactly what it missed.
import { describe, expect, it } from "vitest";
import { ChatState } from "../../src/clients/browser/chat-state";
import { changesSince, chatList, chatsOf, MAX_KEPT_CHANGES, newBook, pageOf, record, upgradeBook, type ChatBook } from "../../src/clients/phone-core/chat-book";
import { LARGE_HISTORY } from "../../src/clients/phone-core/history";
import type { Change, ChatMessage } from "../../src/shared/protocol";

const NOW = Date.UTC(2026, 10, 23, 12);

function book(): ChatBook {
  return newBook("+15550001", NOW);
}

function mine(id: string, chatId = "c1", text = `text ${id}`): ChatMessage {
  return { id, chatId, from: "me", text, at: NOW + 1 };
}

function theirs(id: string, chatId = "c1"): ChatMessage {
  return { id, chatId, from: "Bob Lee", text: `text ${id}`, at: NOW + 1 };
}

/** A browser's state after the snapshot the phone would send now. */
function snapshotOf(phone: ChatBook): ChatState {
  const state = new ChatState();
  for (const { chat, messages, unread } of chatsOf(phone)) state.applyFromPhone({ kind: "chat", chat, messages, unread });
  state.applyFromPhone({ kind: "synced", chats: chatsOf(phone).length, version: phone.version });
  return state;
}

describe("the phone's change log", () => {
  it("gives every change the next version and logs a repeated request once", () => {
    const phone = book();
    expect(record(phone, { type: "message", message: mine("m1") })?.version).toBe(1);
    expect(record(phone, { type: "message", message: mine("m1") })).toBeNull();
    expect(record(phone, { type: "status", chatId: "c1", messageId: "m1", status: "delivered" })?.version).toBe(2);
    // Ticks never go back, and a receipt for a message of a contact's is nothing.
    expect(record(phone, { type: "status", chatId: "c1", messageId: "m1", status: "sent" })).toBeNull();
    record(phone, { type: "message", message: theirs("t1") });
    expect(record(phone, { type: "status", chatId: "c1", messageId: "t1", status: "read" })).toBeNull();
    expect(phone.changes.map((change) => change.version)).toEqual([1, 2, 3]);
  });

  it("sets the ticks itself: a message of the account holder's starts as sent, whatever the sender claimed", () => {
    const phone = book();
    const change = record(phone, { type: "message", message: { ...mine("m1"), status: "read" } });
    expect(change).toMatchObject({ type: "message", message: { id: "m1", status: "sent" }, unread: 0 });
    const contact = record(phone, { type: "message", message: { ...theirs("t1"), status: "read" } });
    expect(contact?.type === "message" && "status" in contact.message).toBe(false);
  });

  it("counts a contact's messages as unread until a device reads the chat, and logs a read only when there was something to read", () => {
    const phone = book();
    const before = chatsOf(phone).find(({ chat }) => chat.id === "c1")!.unread;
    expect(record(phone, { type: "message", message: theirs("t1") })).toMatchObject({ unread: before + 1 });
    expect(record(phone, { type: "message", message: theirs("t2") })).toMatchObject({ unread: before + 2 });
    expect(record(phone, { type: "read", chatId: "c1" })).toMatchObject({ type: "read" });
    expect(record(phone, { type: "read", chatId: "c1" })).toBeNull();
    expect(chatsOf(phone).find(({ chat }) => chat.id === "c1")!.unread).toBe(0);
  });

  it("refuses a change to a chat the phone does not have", () => {
    expect(record(book(), { type: "message", message: mine("m1", "nope") })).toBeNull();
  });

  it("hands a device that was away the changes after its version, and a snapshot once it is further behind than the log", () => {
    const phone = book();
    for (let i = 1; i <= 10; i++) record(phone, { type: "message", message: mine(`m${i}`) });
    expect(changesSince(phone, 10)).toEqual([]);
    expect(changesSince(phone, 7)!.map((change) => change.version)).toEqual([8, 9, 10]);
    expect(changesSince(phone, 0)!.map((change) => change.version)).toHaveLength(10);
    // The phone's state is older than the browser's (a restored profile): only a snapshot is right.
    expect(changesSince(phone, 11)).toBeNull();
    for (let i = 11; i <= MAX_KEPT_CHANGES + 5; i++) record(phone, { type: "message", message: mine(`m${i}`) });
    expect(phone.changes).toHaveLength(MAX_KEPT_CHANGES);
    expect(changesSince(phone, 4)).toBeNull();
    expect(changesSince(phone, 5)!.length).toBe(MAX_KEPT_CHANGES);
  });

  it("upgrades a book kept before the log existed: its read chats stay read", () => {
    const upgraded = upgradeBook({ number: "+15550001", createdAt: NOW, added: [], read: ["c1", "c2"] });
    expect(upgraded).toMatchObject({ version: 0, changes: [], unread: { c1: 0, c2: 0 } });
    expect(chatsOf(upgraded).filter(({ unread }) => unread > 0).map(({ chat }) => chat.id)).not.toContain("c1");
  });
});

describe("a device's copy of the chats", () => {
  it("ends where the phone is after any mix of snapshot and changes, each applied once and in order", () => {
    const phone = book();
    const browser = snapshotOf(phone);
    const log: Change[] = [];
    for (let i = 1; i <= 30; i++) {
      const change = record(phone, i % 3 === 0 ? { type: "read", chatId: "c2" } : { type: "message", message: i % 2 ? mine(`m${i}`, "c2") : theirs(`t${i}`, "c2") });
      if (change) log.push(change);
    }
    // The same changes pushed, then resent after a reconnect: the second time changes nothing.
    browser.applyFromPhone({ kind: "changes", changes: log.slice(0, 20) });
    browser.applyFromPhone({ kind: "changes", changes: log });
    expect(browser.version).toBe(phone.version);
    expect(browser.chat("c2")).toEqual({ ...chatsOf(phone).find(({ chat }) => chat.id === "c2"), hasOlder: false });
    expect(new Set(browser.chat("c2")!.messages.map((message) => message.id)).size).toBe(browser.chat("c2")!.messages.length);
  });

  it("stops at a gap and says so, so it asks the phone for what is missing", () => {
    const phone = book();
    const browser = snapshotOf(phone);
    const log = [1, 2, 3].map((i) => record(phone, { type: "message", message: theirs(`t${i}`) })!);
    expect(browser.applyFromPhone({ kind: "changes", changes: [log[0]!, log[2]!] })).toBe("gap");
    expect(browser.version).toBe(1);
    expect(browser.applyFromPhone({ kind: "changes", changes: changesSince(phone, browser.version)! })).toBeUndefined();
    expect(browser.version).toBe(3);
  });

  it("shows a message typed here with a clock until the phone logs it, then the phone's ticks", () => {
    const phone = book();
    const browser = snapshotOf(phone);
    browser.addPending(mine("m1"));
    expect(browser.chat("c1")!.messages.at(-1)).toMatchObject({ id: "m1", status: "pending" });
    // A snapshot that does not have it yet keeps it.
    browser.applyFromPhone({ kind: "chat", chat: chatsOf(phone)[0]!.chat, messages: chatsOf(phone)[0]!.messages, unread: 0 });
    expect(browser.chat("c1")!.messages.at(-1)).toMatchObject({ id: "m1", status: "pending" });
    const logged = record(phone, { type: "message", message: mine("m1") })!;
    const read = record(phone, { type: "status", chatId: "c1", messageId: "m1", status: "read" })!;
    browser.applyFromPhone({ kind: "changes", changes: [logged, read] });
    expect(browser.chat("c1")!.messages.filter((message) => message.id === "m1")).toEqual([expect.objectContaining({ status: "read" })]);
  });

  it("clears the open chat's count here and reports it once, so the phone tells the others", () => {
    const phone = book();
    const browser = snapshotOf(phone);
    browser.applyFromPhone({ kind: "changes", changes: [record(phone, { type: "message", message: theirs("t1", "c3") })!] });
    expect(browser.chat("c3")!.unread).toBeGreaterThan(0);
    expect(browser.unreadTotal()).toBeGreaterThan(0);
    expect(browser.select("c3")).toBe(true);
    expect(browser.select("c3")).toBe(false);
    expect(browser.chat("c3")!.unread).toBe(0);
  });

  it("shows who is typing for a few seconds, and not once their message is in", () => {
    const phone = book();
    const browser = snapshotOf(phone);
    browser.applyFromPhone({ kind: "typing", chatId: "c1", from: "Bob Lee" }, NOW);
    expect(browser.typing("c1", NOW + 1_000)).toBe("Bob Lee");
    expect(browser.typing("c1", NOW + 10_000)).toBeNull();
    browser.applyFromPhone({ kind: "typing", chatId: "c1", from: "Bob Lee" }, NOW);
    browser.applyFromPhone({ kind: "changes", changes: [record(phone, { type: "message", message: theirs("t1") })!] });
    expect(browser.typing("c1", NOW + 1_000)).toBeNull();
  });

  it("saves only the chats a change touched", () => {
    const phone = book();
    const browser = snapshotOf(phone);
    browser.takeChanged();
    browser.applyFromPhone({ kind: "changes", changes: [record(phone, { type: "message", message: theirs("t1", "c4") })!] });
    expect(browser.takeChanged().map((view) => view.chat.id)).toEqual(["c4"]);
    expect(browser.takeChanged()).toEqual([]);
  });
});

describe("history in pages", () => {
  it("lists the chats most recent first with their last message, unread count and size, without their messages", () => {
    const phone = book();
    record(phone, { type: "message", message: theirs("t1", "c9") });
    const list = chatList(phone);
    expect(list).toHaveLength(21);
    expect(list[0]).toMatchObject({ chat: { id: "c9" }, last: { id: "t1" }, unread: 1 });
    expect(list[0]!.count).toBe(chatsOf(phone).find(({ chat }) => chat.id === "c9")!.messages.length);
    expect(list.every((entry, i) => i === 0 || (entry.last?.at ?? 0) <= (list[i - 1]!.last?.at ?? 0))).toBe(true);
  });

  it("pages a chat back from any message, oldest first, and says when nothing older is left", () => {
    const phone = book();
    const all = chatsOf(phone).find(({ chat }) => chat.id === "c1")!.messages;
    const latest = pageOf(phone, "c1", 5)!;
    expect(latest.messages).toEqual(all.slice(-5));
    expect(latest.hasOlder).toBe(true);
    const older = pageOf(phone, "c1", 5, latest.messages[0]!.id)!;
    expect(older.messages).toEqual(all.slice(-10, -5));
    expect(pageOf(phone, "c1", 1_000, all[3]!.id)).toEqual({ messages: all.slice(0, 3), hasOlder: false });
    expect(pageOf(phone, "c1", 5, "no-such-message")).toBeNull();
    expect(pageOf(phone, "nope", 5)).toBeNull();
  });

  it("makes a large phone the same every time, and finds its way in it at once", () => {
    const large = newBook("+15550001", NOW, "large");
    const list = chatList(large);
    expect(list).toHaveLength(LARGE_HISTORY.chats);
    expect(list.reduce((total, entry) => total + entry.count, 0)).toBe(LARGE_HISTORY.messages);
    expect(chatList(newBook("+15550001", NOW, "large")).map((entry) => entry.last)).toEqual(list.map((entry) => entry.last));
    const started = performance.now();
    for (let i = 0; i < 100; i++) record(large, { type: "message", message: mine(`m${i}`, "c1") });
    expect(performance.now() - started, "100 changes on a phone with 200,000 messages").toBeLessThan(2_000);
    expect(pageOf(large, "c1", 50)!.messages.at(-1)!.id).toBe("m99");
  });

  it("puts an older page before what a device has, only as the answer to what it asked, and never twice", () => {
    const phone = book();
    const browser = new ChatState();
    browser.applyFromPhone({ kind: "chats", chats: chatList(phone) });
    const c1 = browser.chat("c1")!;
    expect(c1.messages).toHaveLength(1);
    expect(c1.hasOlder).toBe(true);
    const before = browser.oldestLogged("c1")!;
    const page = pageOf(phone, "c1", 5, before)!;
    // An answer to an older question (another `before`) is not put anywhere.
    browser.applyFromPhone({ kind: "history", chatId: "c1", before: "c1-1", messages: page.messages, hasOlder: page.hasOlder });
    expect(browser.chat("c1")!.messages).toHaveLength(1);
    browser.applyFromPhone({ kind: "history", chatId: "c1", before, messages: page.messages, hasOlder: page.hasOlder });
    browser.applyFromPhone({ kind: "history", chatId: "c1", before, messages: page.messages, hasOlder: page.hasOlder });
    expect(browser.chat("c1")!.messages.map((message) => message.id)).toEqual([...page.messages.map((message) => message.id), before]);
    expect(browser.oldestLogged("c1")).toBe(page.messages[0]!.id);
  });
});
