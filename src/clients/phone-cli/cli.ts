// The phone simulator on the command line: `npm run phone -- <command>`.
import { createInterface } from "node:readline/promises";
import { parseArgs } from "node:util";
import { displayNameSchema, MAX_LINKED_DEVICES, parseQrText, phoneNumberSchema, type Chat, type QrPayload } from "../../shared/protocol";
import WebSocket from "ws";
import { MalformedCodeError, tryLinkCode } from "../phone-core/code-link";
import { Phone, ServerError, type Inspection } from "../phone-core/phone";
import { HISTORY_SIZES, type HistorySize } from "../phone-core/history";
import { PhoneChats, type ChatsEvent } from "../phone-core/phone-chats";
import { newLinkRecord } from "../phone-core/phone-store";
import { DEFAULT_PROFILE, FilePhoneStore } from "./file-phone-store";
import { ProfileBusyError, ProfileLock } from "./profile-lock";
import { ImageError, readQrFromImage } from "./read-image";
import { rotateKey } from "./rotate-key";

/** Where the phone finds the server when neither --server nor QR_LINK_SERVER says. */
const DEFAULT_SERVER = "http://127.0.0.1:8787";

const USAGE = `QR Link phone simulator

  npm run phone -- register --number <E.164> --name <name> [--history small|large]
  npm run phone -- link '<QR text>' [--reject] [--once]
  npm run phone -- link --image <picture> [--reject] [--once]
  npm run phone -- link-code <XXXX-XXXX> [--reject] [--once]
  npm run phone -- online [--quiet]
  npm run phone -- devices
  npm run phone -- revoke <device id>
  npm run phone -- rotate-key

To link, type the two-digit number the computer shows once the code is
scanned (n rejects). Where the phone cannot scan, choose "Link with phone
number instead" on the computer and pass the code it shows to \`link-code\`.
After linking, and with \`online\`, the phone stays connected and streams its
chats to its linked browsers until Ctrl-C, and takes commands as you type them:

  chats                  the chats, with their ids and unread counts
  send <chat> <text>     sends a message from the phone (<chat>: an id or the start of a name)
  read <chat>            reads a chat on the phone (clears its unread count everywhere)

Its contacts answer what you send and, unless --quiet, write first now and then.

\`rotate-key\` moves this phone's number to a new identity key (signed by the
current one) and keeps the new key in the profile; the old key stops working.
Numbers are first come, first served: registration stands in for an SMS check.

One process at a time writes a profile (it holds <profile>.lock): while the
phone is online, stop it before you link, revoke or rotate with that profile;
\`devices\` works meanwhile.

Options:
  --server <url>     the QR Link server (default: $QR_LINK_SERVER, else ${DEFAULT_SERVER})
  --image <path>     a screenshot or photo of the QR code (PNG, JPEG, WebP, …)
  --profile <path>   the phone's profile file (default ${DEFAULT_PROFILE})
  --reject           reject the link without asking
  --once             link and exit instead of staying online
  --quiet            contacts only answer; they never write first
  --history <size>   at register: small (21 chats, the default) or large
                     (2,000 chats, 200,000 messages), the same every time
`;

const options = {
  server: { type: "string", default: process.env.QR_LINK_SERVER || DEFAULT_SERVER },
  profile: { type: "string", default: DEFAULT_PROFILE },
  number: { type: "string" },
  name: { type: "string" },
  image: { type: "string" },
  reject: { type: "boolean", default: false },
  /** Gone: linking takes the number the computer shows. Kept only to say so. */
  yes: { type: "boolean", default: false },
  once: { type: "boolean", default: false },
  quiet: { type: "boolean", default: false },
  history: { type: "string", default: "small" },
  help: { type: "boolean", short: "h", default: false },
} as const;

type Options = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>["values"];

async function register(values: Options, lock: ProfileLock): Promise<void> {
  const number = phoneNumberSchema.safeParse(values.number);
  const name = displayNameSchema.safeParse(values.name);
  if (!number.success || !name.success) throw new UsageError("register needs --number in E.164 form (+15550001) and a --name");
  const history = values.history as HistorySize;
  if (!HISTORY_SIZES.includes(history)) throw new UsageError(`--history is ${HISTORY_SIZES.join(" or ")}, not "${values.history}"`);
  const existing = await FilePhoneStore.load(values.profile, lock).catch(() => null);
  if (existing && existing.identity.number !== number.data) {
    throw new UsageError(`${values.profile} already holds the phone ${existing.identity.number}; pass --profile <path> for another phone`);
  }
  // Registering again keeps the key, so only the name changes.
  const store = existing ?? (await FilePhoneStore.create(values.profile, number.data, name.data, lock, history));
  const account = await new Phone(serverOrigin(values), { ...store.identity, name: name.data }).register().catch((error: unknown) => {
    if (error instanceof ServerError && error.code === "number_taken") {
      console.error(`${values.profile} does not hold the key ${number.data} is registered with; if you have the profile that does, pass it with --profile.`);
    }
    throw error;
  });
  await store.rename(account.name);
  console.log(`Registered ${account.name} (${account.number}) with ${serverOrigin(values)}`);
  console.log(`Profile: ${values.profile} (holds this phone's private key; keep it private)`);
}

async function decodeImage(path: string): Promise<string> {
  const text = await readQrFromImage(path);
  if (!text) throw new UsageError(`no QR code found in ${path}: take the screenshot with the whole code in view, or pass the code's text instead`);
  return text;
}

/** The server's origin from --server (or QR_LINK_SERVER), checked to be an http(s) address. */
function serverOrigin(values: Options): string {
  const url = URL.canParse(values.server) ? new URL(values.server) : null;
  if (!url || !/^https?:$/.test(url.protocol)) throw new UsageError(`--server "${values.server}" is not an http(s) address: pass one like ${DEFAULT_SERVER}`);
  return url.origin;
}

function ago(at: number): string {
  const minutes = Math.round((Date.now() - at) / 60_000);
  if (minutes < 1) return "just now";
  if (minutes < 120) return `${minutes} min ago`;
  return `${Math.round(minutes / 60)} h ago`;
}

function describe(context: Inspection): string {
  const lines = [
    `  Device:   ${context.browser} on ${context.os} (reported by the browser)`,
    `  Place:    ${context.place} (IP ${context.ipPrefix})`,
    `  QR made:  ${new Date(context.qrCreatedAt).toISOString()} (${ago(context.qrCreatedAt)})`,
  ];
  if (context.placeMismatch) {
    lines.push(`  WARNING:  this device is in ${context.place}, not where this phone is. If you did not open this code yourself, someone may be relaying it: reject.`);
  } else if (context.placeUnknown) {
    lines.push("  WARNING:  place unknown: this phone cannot tell whether the device is near it. Link it only if it is the computer in front of you.");
  }
  return lines.join("\n");
}

async function devices(values: Options): Promise<void> {
  const store = await FilePhoneStore.load(values.profile);
  const list = await new Phone(serverOrigin(values), store.identity).devices();
  if (list.length === 0) {
    console.log("No linked devices.");
    return;
  }
  console.log(`Linked devices (${list.length} of ${MAX_LINKED_DEVICES}):`);
  for (const device of list) {
    console.log(`  ${device.id}  ${device.name}, ${device.place}; linked ${ago(device.linkedAt)}, last active ${ago(device.lastActiveAt)}`);
  }
}

async function revoke(values: Options, positionals: string[], lock: ProfileLock): Promise<void> {
  const id = positionals[0];
  if (!id) throw new UsageError("revoke needs the device id that `devices` lists");
  const store = await FilePhoneStore.load(values.profile, lock);
  const phone = new Phone(serverOrigin(values), store.identity);
  const known = await phone.devices();
  if (!known.some((device) => device.id === id)) {
    const listed = known.map((device) => `  ${device.id}  ${device.name}, ${device.place}`).join("\n");
    throw new UsageError(known.length === 0 ? `no linked device "${id}": this phone has no linked devices` : `no linked device "${id}"; this phone's linked devices are:\n${listed}`);
  }
  await phone.revoke(id);
  await store.removeLink(id);
  console.log(`Logged out ${id}: that browser shows a fresh QR code.`);
}

/** Asks for the number the computer shows: its two digits, or null for no (n, an empty line, or the input ending). */
async function askNumber(question: string): Promise<string | null> {
  const prompt = createInterface({ input: process.stdin, output: process.stdout });
  const ended = new Promise<null>((resolve) => prompt.once("close", () => resolve(null)));
  try {
    for (let tries = 0; tries < 3; tries++) {
      const answer = await Promise.race([prompt.question(question).catch(() => null), ended]);
      const text = answer?.trim() ?? "";
      if (/^\d{1,2}$/.test(text)) return text.padStart(2, "0");
      if (answer === null || text === "" || /^no?$/i.test(text)) return null;
      console.log("Type the two digits the computer shows, or n to reject.");
    }
    return null;
  } finally {
    prompt.close();
  }
}

async function link(values: Options, positionals: string[], lock: ProfileLock): Promise<void> {
  if (values.yes) throw new UsageError("--yes is gone: link by typing the number the computer shows once the code is scanned, so that a code sent in a message cannot be linked by accident");
  const text = values.image ? await decodeImage(values.image) : positionals[0];
  const qr = text ? parseQrText(text) : null;
  if (!qr) throw new UsageError("link needs the QR text (https://…/link#…) or --image with a screenshot of the QR code");
  const server = serverOrigin(values);
  if (qr.origin !== server) throw new UsageError(`this QR code is for ${qr.origin}, but this phone uses ${server} (set --server or QR_LINK_SERVER)`);

  const store = await FilePhoneStore.load(values.profile, lock);
  const phone = new Phone(server, store.identity);
  const inspection = await phone.inspect(qr, { extractableKey: true });
  await confirmLink(values, phone, store, qr, inspection);
}

/** Links with the code the computer shows instead of its QR code: then the same prompt as `link`. */
async function linkCode(values: Options, positionals: string[], lock: ProfileLock): Promise<void> {
  if (!positionals[0]) throw new UsageError("link-code needs the code the computer shows, e.g. ABCD-EF23");
  const store = await FilePhoneStore.load(values.profile, lock);
  const phone = new Phone(serverOrigin(values), store.identity);
  const { qr, inspection } = await tryLinkCode(phone, positionals[0], { extractableKey: true }).catch((error: unknown) => {
    if (error instanceof MalformedCodeError) throw new UsageError(error.message);
    throw error;
  });
  await confirmLink(values, phone, store, qr, inspection);
}

/** Shows what asks to be linked, asks for the number the computer shows, links or rejects, then stays online unless --once. */
async function confirmLink(values: Options, phone: Phone, store: FilePhoneStore, qr: QrPayload, inspection: Inspection): Promise<void> {
  console.log("A device asks to be linked:");
  console.log(describe(inspection));

  const { name, number } = phone.identity;
  const typed = values.reject ? null : await askNumber(`To link it to ${name} (${number}), type the number the computer shows (n to reject): `);
  if (typed === null) {
    await phone.reject(qr);
    console.log("Rejected: the browser shows a fresh QR code.");
    return;
  }
  if (typed !== inspection.matchingNumber) {
    await phone.reject(qr, "wrong_number");
    console.log("That is not the number on the computer: nothing was linked, and the computer was told.");
    process.exitCode = 1;
    return;
  }
  const linked = await phone.confirm(qr);
  await store.saveLink(newLinkRecord(qr, linked.linkId, await crypto.subtle.exportKey("jwk", linked.agreement.privateKey)));
  console.log(`Linked: the browser now shows ${linked.account.name} (${linked.account.number}).`);
  if (!values.once) await goOnline(phone, store, values);
}

async function online(values: Options, lock: ProfileLock): Promise<void> {
  const store = await FilePhoneStore.load(values.profile, lock);
  await goOnline(new Phone(serverOrigin(values), store.identity), store, values);
}

/** Streams to every linked browser and takes typed commands until Ctrl-C. */
async function goOnline(phone: Phone, store: FilePhoneStore, values: Options): Promise<void> {
  const records = store.links();
  if (records.length === 0) {
    console.log("No linked browsers: link one with `npm run phone -- link '<QR text>'`.");
    return;
  }
  const chats = new PhoneChats(phone, store, (event) => report(event), { lively: !values.quiet });
  for (const record of records) await chats.open(record, WebSocket);
  chats.startContacts();
  console.log(`Online: streaming to ${records.length} linked browser${records.length === 1 ? "" : "s"}. Type \`chats\`, \`send <chat> <text>\` or \`read <chat>\`; Ctrl-C to stop.`);
  const commands = createInterface({ input: process.stdin });
  commands.on("line", (line) => void command(chats, store, line).catch((error: Error) => console.log(error.message)));
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  commands.close();
  chats.stop();
  console.log("Offline.");
}

/** The most recent chats `chats` lists. */
const CHATS_LISTED = 30;

/** One typed command while online. */
async function command(chats: PhoneChats, store: FilePhoneStore, line: string): Promise<void> {
  const [verb = "", reference = "", ...words] = line.trim().split(/\s+/);
  if (verb === "") return;
  if (verb === "chats") {
    const list = store.chatList();
    for (const { chat, last, unread } of list.slice(0, CHATS_LISTED)) {
      console.log(`  ${chat.id.padEnd(5)} ${chat.title.padEnd(22)} ${unread > 0 ? `(${unread} unread) ` : ""}${last ? `${last.from === "me" ? "you" : last.from}: ${last.text}` : ""}`);
    }
    if (list.length > CHATS_LISTED) console.log(`  … and ${list.length - CHATS_LISTED} more (send and read take any chat's id or name)`);
    return;
  }
  if (verb !== "send" && verb !== "read") throw new Error(`unknown command "${verb}": type chats, send <chat> <text> or read <chat>`);
  const chat = findChat(store, reference);
  if (verb === "read") {
    await chats.read(chat.id);
    console.log(`Read ${chat.title}.`);
    return;
  }
  const text = words.join(" ");
  if (!text) throw new Error("send needs a chat and the text: send <chat> <text>");
  await chats.send(chat.id, text);
}

/** A chat by its id or the start of its title, with a message that lists the chats when none or several match. */
function findChat(store: FilePhoneStore, reference: string): Chat {
  const all = store.chatList().map(({ chat }) => chat);
  const byId = all.find((chat) => chat.id === reference);
  if (byId) return byId;
  const matches = all.filter((chat) => reference !== "" && chat.title.toLowerCase().startsWith(reference.toLowerCase()));
  if (matches.length === 1) return matches[0]!;
  const known = all.slice(0, CHATS_LISTED).map((chat) => `${chat.id} (${chat.title})`).join(", ") + (all.length > CHATS_LISTED ? ", …" : "");
  throw new Error(matches.length === 0 ? `no chat "${reference}"; the chats are ${known}` : `"${reference}" matches ${matches.map((chat) => chat.title).join(", ")}: say which`);
}

function report(event: ChatsEvent): void {
  if (event.kind === "link") {
    const browser = `browser ${event.sessionId.slice(0, 6)}`;
    const { event: linkEvent } = event;
    if (linkEvent.kind === "online") console.log(`[${browser}] connected`);
    if (linkEvent.kind === "offline") console.log(`[${browser}] not connected; retrying in ${(linkEvent.retryInMs / 1000).toFixed(1)} s`);
    if (linkEvent.kind === "taken_over") console.log(`[${browser}] stopped: ${linkEvent.notice}`);
    if (linkEvent.kind === "ended") console.log(`[${browser}] link ended (${linkEvent.reason})`);
    if (linkEvent.kind === "refused") console.log(`[${browser}] stopped: ${linkEvent.reason}`);
    if (linkEvent.kind === "failed") console.error(`[${browser}] a message from the browser could not be handled yet; trying again: ${linkEvent.error}`);
  }
  if (event.kind === "synced") console.log(`[browser ${event.sessionId.slice(0, 6)}] sent ${event.chats} chats`);
  if (event.kind === "typing") console.log(`${event.from} is typing…`);
  if (event.kind === "failed") console.error(`Something went wrong, and the phone goes on: ${event.error}`);
  if (event.kind === "change" && event.change.type === "message") {
    const { message } = event.change;
    const text = message.attachment ? `[${message.attachment.kind} ${message.attachment.name}] ${message.text}` : message.text;
    console.log(message.from === "me" ? `you → ${event.chat.title}: ${text}` : `${message.from} → you (${event.chat.title}): ${text}`);
  }
  if (event.kind === "change" && event.change.type === "read") console.log(`${event.chat.title}: read`);
  if (event.kind === "media") {
    console.log(event.ok ? `received ${event.name} (${event.size} bytes, sha256 ${event.sha256})` : `could not receive ${event.name}: ${event.error}`);
  }
}

class UsageError extends Error {}

/** The server this run talks to, for an error that cannot reach it. */
let serverInUse = DEFAULT_SERVER;

/** Runs a command that writes the profile while holding its lock, so two processes never write one profile. */
async function holdingProfile(values: Options, command: string, work: (lock: ProfileLock) => Promise<void>): Promise<void> {
  const lock = await ProfileLock.acquire(values.profile, command);
  try {
    await work(lock);
  } finally {
    await lock.release();
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options, allowPositionals: true });
  serverInUse = values.server;
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return;
  }
  if (command === "devices") return devices(values);
  if (command === "register") return holdingProfile(values, command, (lock) => register(values, lock));
  if (command === "link") return holdingProfile(values, command, (lock) => link(values, rest, lock));
  if (command === "link-code") return holdingProfile(values, command, (lock) => linkCode(values, rest, lock));
  if (command === "online") return holdingProfile(values, command, (lock) => online(values, lock));
  if (command === "revoke") return holdingProfile(values, command, (lock) => revoke(values, rest, lock));
  if (command === "rotate-key") return holdingProfile(values, command, (lock) => rotateKey(values.profile, serverOrigin(values), lock));
  throw new UsageError(`unknown command "${command}": the commands are register, link, link-code, online, devices, revoke and rotate-key`);
}

main().catch((error: unknown) => {
  if (error instanceof ServerError) console.error(`The server refused: ${error.message} (${error.code})`);
  else if (error instanceof ProfileBusyError) console.error(error.message);
  else if (error instanceof UsageError) console.error(`${error.message}\n\nRun \`npm run phone -- --help\` for every command and option.`);
  else if (error instanceof ImageError) console.error(error.message);
  else if (error instanceof TypeError && String(error.cause ?? "").includes("ECONNREFUSED")) console.error(`Cannot reach the server at ${serverInUse}: is \`npm run dev\` running there? Pass its address with --server or QR_LINK_SERVER.`);
  else console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
