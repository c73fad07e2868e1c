// `npm run phone -- rotate-key`: moves the phone's number to a new identity
// key, crash-safe (the new key is kept beside the profile until the server
// agreed and the profile holds it).
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { generateIdentityKeyPair } from "../../shared/crypto";
import { Phone, ServerError } from "../phone-core/phone";
import { FilePhoneStore } from "./file-phone-store";
import type { ProfileLock } from "./profile-lock";

/**
 * Moves this phone's number to a new identity key. The new key is written
 * beside the profile (`<profile>.new-key`, owner-only) before the server is
 * asked, so a rotation the server agreed to is never lost to a crash or a
 * dropped reply: the next `rotate-key` finds it, asks the server which key it
 * holds, and finishes.
 */
export async function rotateKey(profile: string, server: string, lock: ProfileLock): Promise<void> {
  const store = await FilePhoneStore.load(profile, lock);
  const pendingPath = `${profile}.new-key`;
  const pending = await readPendingKey(pendingPath);
  if (pending) {
    const moved = await new Phone(server, { ...store.identity, ...pending.pair }).devices().then(
      () => true,
      (error: unknown) => {
        if (error instanceof ServerError && (error.code === "bad_signature" || error.code === "replayed_request")) return false;
        throw error;
      },
    );
    if (moved) {
      await writeProfileKey(lock, profile, pending.file);
      await rm(pendingPath, { force: true });
      console.log(`Finished an interrupted rotation: ${store.identity.number} now uses the key kept in ${pendingPath}, now in ${profile}.`);
      return;
    }
    await rm(pendingPath, { force: true });
  }

  const next = await generateIdentityKeyPair(true);
  const file: StoredKey = { publicKey: next.publicKey, privateKey: await crypto.subtle.exportKey("jwk", next.privateKey) };
  await writeFile(pendingPath, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600, flag: "wx" });
  try {
    await new Phone(server, store.identity).rotateKey(next);
  } catch (error) {
    // A refusal changed nothing; anything else (no answer) may have rotated: keep the new key for the next try.
    if (error instanceof ServerError) await rm(pendingPath, { force: true });
    else console.error(`The rotation may or may not have happened; the new key is kept in ${pendingPath}. Run \`rotate-key\` again to finish.`);
    throw error;
  }
  await writeProfileKey(lock, profile, file);
  await rm(pendingPath, { force: true });
  console.log(`Rotated the identity key of ${store.identity.number}: ${profile} holds the new key, and the old one no longer works.`);
  console.log("Linked browsers stay linked; if the old key may have been stolen, also revoke the devices you do not recognise.");
}

interface StoredKey {
  publicKey: string;
  privateKey: JsonWebKey;
}

async function readPendingKey(path: string): Promise<{ file: StoredKey; pair: { publicKey: string; privateKey: CryptoKey } } | null> {
  let file: StoredKey;
  try {
    file = JSON.parse(await readFile(path, "utf8")) as StoredKey;
  } catch {
    return null;
  }
  const privateKey = await crypto.subtle.importKey("jwk", file.privateKey, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  return { file, pair: { publicKey: file.publicKey, privateKey } };
}

/** Replaces the identity key in the profile file, leaving the rest as it is; through a temporary file, owner-only. */
async function writeProfileKey(lock: ProfileLock, profile: string, key: StoredKey): Promise<void> {
  await lock.assertHeld();
  const state = JSON.parse(await readFile(profile, "utf8")) as Record<string, unknown>;
  state.publicKey = key.publicKey;
  state.privateKey = key.privateKey;
  const temporary = `${profile}.tmp`;
  await writeFile(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, profile);
}
