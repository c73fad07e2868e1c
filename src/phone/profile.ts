// The simulated phone's profile on disk: its number, name and identity key.
// The file holds a private key, so it is written owner-only and gitignored.
import { readFile, writeFile } from "node:fs/promises";
import { generateIdentityKeyPair } from "../crypto";
import type { PhoneIdentity } from "./phone";

interface ProfileFile {
  number: string;
  name: string;
  publicKey: string;
  privateKey: JsonWebKey;
}

export const DEFAULT_PROFILE = ".qr-link-phone.json";

export async function createProfile(path: string, number: string, name: string): Promise<PhoneIdentity> {
  const pair = await generateIdentityKeyPair(true);
  const file: ProfileFile = { number, name, publicKey: pair.publicKey, privateKey: await crypto.subtle.exportKey("jwk", pair.privateKey) };
  await writeFile(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600, flag: "wx" });
  return { number, name, privateKey: pair.privateKey, publicKey: pair.publicKey };
}

export async function loadProfile(path: string): Promise<PhoneIdentity> {
  let file: ProfileFile;
  try {
    file = JSON.parse(await readFile(path, "utf8")) as ProfileFile;
  } catch {
    throw new Error(`no phone profile at ${path}: run \`npm run phone -- register --number <E.164> --name <name>\` first`);
  }
  const privateKey = await crypto.subtle.importKey("jwk", file.privateKey, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  return { number: file.number, name: file.name, publicKey: file.publicKey, privateKey };
}

export async function renameProfile(path: string, name: string): Promise<void> {
  const file = JSON.parse(await readFile(path, "utf8")) as ProfileFile;
  await writeFile(path, `${JSON.stringify({ ...file, name }, null, 2)}\n`, { mode: 0o600 });
}
