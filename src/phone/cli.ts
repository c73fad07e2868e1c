// The phone simulator on the command line: `npm run phone -- <command>`.
import { readFile } from "node:fs/promises";
import { createInterface } from "node:readline/promises";
import { parseArgs } from "node:util";
import jsQR from "jsqr";
import { PNG } from "pngjs";
import { parseQrText, phoneNumberSchema, displayNameSchema, type DeviceContext } from "../protocol";
import { Phone, ServerError } from "./phone";
import { createProfile, DEFAULT_PROFILE, loadProfile, renameProfile } from "./profile";

const USAGE = `QR Link phone simulator

  npm run phone -- register --number <E.164> --name <name>
  npm run phone -- link '<QR text>' [--yes | --reject]
  npm run phone -- link --image <screenshot.png> [--yes | --reject]

Options:
  --server <url>     the QR Link server (default http://127.0.0.1:8787)
  --profile <path>   the phone's profile file (default ${DEFAULT_PROFILE})
  --yes              confirm the link without asking
  --reject           reject the link without asking
`;

const options = {
  server: { type: "string", default: "http://127.0.0.1:8787" },
  profile: { type: "string", default: DEFAULT_PROFILE },
  number: { type: "string" },
  name: { type: "string" },
  image: { type: "string" },
  yes: { type: "boolean", default: false },
  reject: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

type Options = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>["values"];

async function register(values: Options): Promise<void> {
  const number = phoneNumberSchema.safeParse(values.number);
  const name = displayNameSchema.safeParse(values.name);
  if (!number.success || !name.success) throw new UsageError("register needs --number in E.164 form (+15550001) and a --name");
  const existing = await loadProfile(values.profile).catch(() => null);
  if (existing && existing.number !== number.data) {
    throw new UsageError(`${values.profile} already holds the phone ${existing.number}; pass --profile <path> for another phone`);
  }
  // Registering again keeps the key, so only the name changes.
  const identity = existing ? { ...existing, name: name.data } : await createProfile(values.profile, number.data, name.data);
  const account = await new Phone(values.server, identity).register();
  if (existing) await renameProfile(values.profile, account.name);
  console.log(`Registered ${account.name} (${account.number}) with ${values.server}`);
  console.log(`Profile: ${values.profile} (holds this phone's private key; keep it private)`);
}

async function decodeImage(path: string): Promise<string> {
  const png = PNG.sync.read(await readFile(path));
  const code = jsQR(new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.length), png.width, png.height);
  if (!code) throw new UsageError(`no QR code found in ${path}`);
  return code.data;
}

function describe(context: DeviceContext): string {
  const minutes = Math.round((Date.now() - context.qrCreatedAt) / 60_000);
  return [
    `  Device:   ${context.browser} on ${context.os}`,
    `  Place:    ${context.place} (IP ${context.ipPrefix})`,
    `  QR made:  ${new Date(context.qrCreatedAt).toISOString()} (${minutes < 1 ? "just now" : `${minutes} min ago`})`,
  ].join("\n");
}

async function ask(question: string): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await prompt.question(question)).trim());
  } finally {
    prompt.close();
  }
}

async function link(values: Options, positionals: string[]): Promise<void> {
  const text = values.image ? await decodeImage(values.image) : positionals[0];
  const qr = text ? parseQrText(text) : null;
  if (!qr) throw new UsageError("link needs the QR text (https://…/link#…) or --image with a screenshot of the QR code");
  const server = new URL(values.server).origin;
  if (qr.origin !== server) throw new UsageError(`this QR code is for ${qr.origin}, but this phone uses ${server} (set --server)`);

  const phone = new Phone(server, await loadProfile(values.profile));
  const context = await phone.inspect(qr);
  console.log("A device asks to be linked:");
  console.log(describe(context));

  const { name, number } = phone.identity;
  const confirmed = values.reject ? false : values.yes || (await ask(`Link it to ${name} (${number})? [y/N] `));
  if (!confirmed) {
    await phone.reject(qr);
    console.log("Rejected: the browser shows a fresh QR code.");
    return;
  }
  const linked = await phone.confirm(qr);
  console.log(`Linked: the browser now shows ${linked.account.name} (${linked.account.number}).`);
}

class UsageError extends Error {}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options, allowPositionals: true });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return;
  }
  if (command === "register") return register(values);
  if (command === "link") return link(values, rest);
  throw new UsageError(`unknown command "${command}"`);
}

main().catch((error: unknown) => {
  if (error instanceof ServerError) console.error(`The server refused: ${error.message} (${error.code})`);
  else if (error instanceof UsageError) console.error(`${error.message}\n\n${USAGE}`);
  else if (error instanceof TypeError && String(error.cause ?? "").includes("ECONNREFUSED")) console.error("Cannot reach the server: is `npm run dev` running?");
  else console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
