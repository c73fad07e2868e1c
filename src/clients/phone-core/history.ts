// The simulated phone's chats: a deterministic history (the same for the same
// number) and what its contacts say.
import type { Chat, ChatMessage } from "../../shared/protocol";

const CONTACTS = ["Bob Lee", "Carol Diaz", "Dan Okafor", "Eve Martin", "Frank Ito", "Grace Kim", "Heidi Novak", "Ivan Petrov", "Judy Chen", "Mallory Stone", "Niaj Patel", "Olivia Rossi", "Peggy Brown", "Rupert Hale", "Sybil Grant"];
const GROUPS = ["Family", "Climbing crew", "Book club", "Flat 4B", "Work: platform team", "Weekend football"];
const LINES = [
  "Are we still on for tonight?", "Running 10 minutes late, sorry!", "Did you see the game?", "Can you send me the address?",
  "Haha that's brilliant", "I'll bring snacks", "What time works for you?", "Happy birthday!! 🎉", "On my way", "Thanks so much!",
  "Let me check and get back to you", "Sounds good 👍", "Who's driving?", "Photos from Saturday are up", "Did anyone order the pizza?",
  "Call me when you can", "Meeting moved to 3pm", "Just landed ✈️", "Good morning!", "See you there",
];
const REPLIES = ["Got it 👍", "Ha, sure!", "Let me think about it", "Sounds good to me", "On it", "Thanks!"];

/** mulberry32: a tiny seeded PRNG, so every run of the simulator shows the same history. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ChatWithHistory {
  chat: Chat;
  messages: ChatMessage[];
  unread: number;
}

/** 21 chats (15 contacts, 6 groups) with 8 to 27 messages each, ending `now`. */
export function generateHistory(number: string, now: number): ChatWithHistory[] {
  const random = seededRandom([...number].reduce((hash, char) => Math.imul(hash, 31) + char.charCodeAt(0), 7));
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
  const chats: ChatWithHistory[] = [];
  for (const [index, title] of [...CONTACTS, ...GROUPS].entries()) {
    const group = index >= CONTACTS.length;
    const id = `${group ? "g" : "c"}${index + 1}`;
    const count = 8 + Math.floor(random() * 20);
    let at = now - (index + 1) * 3_600_000 - count * 600_000;
    const messages: ChatMessage[] = [];
    for (let i = 0; i < count; i++) {
      at += Math.floor(random() * 600_000) + 1_000;
      const from = random() < 0.45 ? "me" : group ? pick(CONTACTS) : title;
      messages.push({ id: `${id}-${i + 1}`, chatId: id, from, text: pick(LINES), at, ...(from === "me" ? { status: "read" as const } : {}) });
    }
    const unread = index < 5 ? Math.floor(random() * 4) : 0;
    chats.push({ chat: { id, title, group }, messages, unread });
  }
  return chats;
}

/** What the contact (or someone in the group) answers to a message; deterministic by text. */
export function replyTo(chat: Chat, message: ChatMessage): ChatMessage {
  const sum = [...message.text].reduce((total, char) => total + char.charCodeAt(0), 0);
  const from = chat.group ? CONTACTS[sum % CONTACTS.length]! : chat.title;
  return { id: `${message.id}-reply`, chatId: chat.id, from, text: REPLIES[sum % REPLIES.length]!, at: message.at + 1 };
}

/** A contact who writes first: deterministic by `count`, the how-many-th such message this is. */
export function openerFor(chats: readonly Chat[], count: number, at: number): ChatMessage {
  const chat = chats[(count * 7) % chats.length]!;
  const from = chat.group ? CONTACTS[(count * 5) % CONTACTS.length]! : chat.title;
  return { id: `opener-${at}-${count}`, chatId: chat.id, from, text: LINES[(count * 3) % LINES.length]!, at };
}
