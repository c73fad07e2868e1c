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

/** `small`: 21 chats of 8 to 27 messages; `large`: a phone with years of chats (LARGE_HISTORY). */
export type HistorySize = "small" | "large";
export const HISTORY_SIZES: readonly HistorySize[] = ["small", "large"];

/** The large phone: this many chats and messages in all; its first chat alone holds LARGE_FIRST_CHAT messages. */
export const LARGE_HISTORY = { chats: 2_000, messages: 200_000, firstChat: 20_000 } as const;

const SURNAMES = ["Adler", "Baker", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hughes", "Ivanova", "Jensen", "Khan", "Lopez", "Moreau", "Nguyen", "Okoro", "Park", "Quinn", "Rossi", "Silva", "Tanaka", "Usman", "Varga", "Weber", "Xu", "Young", "Zhang"];

/** The chats' titles and kinds, in order: the small phone's 21, or LARGE_HISTORY.chats made from first names and surnames. */
function chatNames(size: HistorySize): { title: string; group: boolean }[] {
  const small = [...CONTACTS.map((title) => ({ title, group: false })), ...GROUPS.map((title) => ({ title, group: true }))];
  if (size === "small") return small;
  const firsts = CONTACTS.map((name) => name.split(" ")[0]!);
  return Array.from({ length: LARGE_HISTORY.chats }, (_, index) => {
    if (index < small.length) return small[index]!;
    if (index % 10 === 0) return { title: `${GROUPS[index % GROUPS.length]} ${Math.floor(index / 10)}`, group: true };
    return { title: `${firsts[index % firsts.length]} ${SURNAMES[Math.floor(index / firsts.length) % SURNAMES.length]} ${Math.floor(index / (firsts.length * SURNAMES.length)) || ""}`.trim(), group: false };
  });
}

/** How many messages each chat holds: the small phone's 8 to 27, or LARGE_HISTORY's total with a long first chat. */
function messageCounts(size: HistorySize, chats: number, random: () => number): number[] {
  if (size === "small") return Array.from({ length: chats }, () => 8 + Math.floor(random() * 20));
  const rest = Math.floor((LARGE_HISTORY.messages - LARGE_HISTORY.firstChat) / (chats - 1));
  const counts = Array.from({ length: chats }, (_, index) => (index === 0 ? LARGE_HISTORY.firstChat : rest));
  counts[1]! += LARGE_HISTORY.messages - counts.reduce((total, count) => total + count, 0);
  return counts;
}

/** The phone's chats when it was set up, ending `now`: the same for the same number and size. */
export function generateHistory(number: string, now: number, size: HistorySize = "small"): ChatWithHistory[] {
  const random = seededRandom([...number].reduce((hash, char) => Math.imul(hash, 31) + char.charCodeAt(0), 7));
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
  const names = chatNames(size);
  const counts = messageCounts(size, names.length, random);
  return names.map(({ title, group }, index) => {
    const id = `${group ? "g" : "c"}${index + 1}`;
    const count = counts[index]!;
    // Spread over the past, most recent chat first; a long chat goes back years.
    const gap = size === "small" ? 600_000 : Math.max(600_000, Math.floor((3 * 365 * 86_400_000) / count));
    let at = now - (index + 1) * 3_600_000 - count * gap;
    const messages: ChatMessage[] = [];
    for (let i = 0; i < count; i++) {
      at += Math.floor(random() * gap) + 1_000;
      const from = random() < 0.45 ? "me" : group ? pick(CONTACTS) : title;
      messages.push({ id: `${id}-${i + 1}`, chatId: id, from, text: pick(LINES), at, ...(from === "me" ? { status: "read" as const } : {}) });
    }
    const unread = index < 5 ? Math.floor(random() * 4) : 0;
    return { chat: { id, title, group }, messages, unread };
  });
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
