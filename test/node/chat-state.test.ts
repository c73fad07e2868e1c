import { describe, expect, it } from "vitest";
import { ChatState } from "../../src/clients/browser/chat-state";
import type { ChatMessage } from "../../src/shared/protocol";

const chat = { id: "c1", title: "Bob Lee", group: false };
const message = (id: string, from = "Bob Lee", at = 1): ChatMessage => ({ id, chatId: "c1", from, text: `text ${id}`, at });

describe("the chat screen's model", () => {
  it("shows each message once, whatever order the phone's sync and live messages arrive in", () => {
    const state = new ChatState();
    state.applyFromPhone({ kind: "chat", chat, messages: [message("a"), message("b")], unread: 0 });
    state.applyFromPhone({ kind: "message", message: message("c") });
    state.applyFromPhone({ kind: "message", message: message("c") });
    state.applyFromPhone({ kind: "chat", chat, messages: [message("a"), message("b"), message("c")], unread: 0 });
    expect(state.chat("c1")!.messages.map((entry) => entry.id)).toEqual(["a", "b", "c"]);
  });

  it("keeps a message typed here that the phone's history snapshot does not have yet, with its ticks", () => {
    const state = new ChatState();
    state.applyFromPhone({ kind: "chat", chat, messages: [message("a")], unread: 0 });
    state.addLocal(message("mine", "me", 2), "pending");
    state.setStatus("mine", "delivered");
    state.applyFromPhone({ kind: "chat", chat, messages: [message("a")], unread: 0 });
    expect(state.chat("c1")!.messages.map((entry) => [entry.id, entry.status])).toEqual([
      ["a", "delivered"],
      ["mine", "delivered"],
    ]);
  });

  it("counts unread messages in chats that are not open, and clears them on opening", () => {
    const state = new ChatState();
    state.applyFromPhone({ kind: "chat", chat, messages: [message("a")], unread: 2 });
    state.applyFromPhone({ kind: "message", message: message("b") });
    expect(state.chat("c1")!.unread).toBe(3);
    expect(state.select("c1")).toBe(true);
    state.applyFromPhone({ kind: "message", message: message("c") });
    expect(state.chat("c1")!.unread).toBe(0);
  });

  it("shows the chats kept from before a reload, and lets the phone's own replace them", () => {
    const state = new ChatState();
    state.restore([{ chat, messages: [{ ...message("old"), status: "delivered" }], unread: 1 }]);
    expect(state.list()).toHaveLength(1);
    state.applyFromPhone({ kind: "chat", chat, messages: [message("old"), message("new")], unread: 0 });
    state.restore([{ chat, messages: [], unread: 5 }]);
    expect(state.chat("c1")!.messages.map((entry) => entry.id)).toEqual(["old", "new"]);
  });
});
