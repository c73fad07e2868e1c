// Debian's Chromium driven by playwright-core (no browser download), and the
// two independent QR decoders the suite reads the screen with.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import jsQR from "jsqr";
import { build as esbuild } from "esbuild";
import { chromium, type Browser } from "playwright-core";
import { PNG } from "pngjs";

export const CHROMIUM_PATH = process.env.CHROME_PATH ?? "/usr/bin/chromium";
export const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic"];
export const ARTIFACTS = "test-artifacts/browser";

/** Why the suite cannot run here, or null when it can. Under CI a missing tool fails instead of skipping. */
export function missingTools(): string | null {
  const missing = [existsSync(CHROMIUM_PATH) ? null : `Chromium (${CHROMIUM_PATH}; set CHROME_PATH)`, existsSync("/usr/bin/zbarimg") ? null : "zbarimg (apt-get install zbar-tools)"].filter(Boolean);
  if (missing.length === 0) return null;
  const reason = `browser suite needs ${missing.join(" and ")}`;
  if (process.env.CI) throw new Error(`${reason}; CI must install them`);
  console.log(`Skipping the browser suite: ${reason}.`);
  return reason;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

/** Saves a screenshot under the artifacts folder and returns its path. */
export async function saveArtifact(name: string, png: Buffer): Promise<string> {
  await mkdir(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await writeFile(path, png);
  return path;
}

/** jsQR reading only dark-on-light codes, as a plain camera app would. */
export function decodeWithJsqr(png: Buffer): { text: string; version: number } | null {
  const image = PNG.sync.read(png);
  const pixels = new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, image.data.length);
  const code = jsQR(pixels, image.width, image.height, { inversionAttempts: "dontInvert" });
  return code ? { text: code.data, version: code.version } : null;
}

export async function decodeWithZbar(path: string): Promise<string | null> {
  try {
    const { stdout } = await promisify(execFile)("zbarimg", ["--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", path]);
    return stdout.trim() || null;
  } catch {
    return null;
  }
}

/** The colour of one pixel of a screenshot, as [r, g, b]. */
export function pixelAt(png: Buffer, x: number, y: number): [number, number, number] {
  const image = PNG.sync.read(png);
  const offset = (image.width * Math.round(y) + Math.round(x)) * 4;
  return [image.data[offset]!, image.data[offset + 1]!, image.data[offset + 2]!];
}

/** The app's own modules, bundled into a script that puts their exports on `window[globalName]`, for a page to run apart from the app. */
export async function bundleForPage(exports: string, globalName: string): Promise<string> {
  const bundled = await esbuild({ stdin: { contents: exports, resolveDir: process.cwd() }, bundle: true, format: "iife", globalName, write: false });
  return bundled.outputFiles[0]!.text;
}
