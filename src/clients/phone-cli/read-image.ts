// Reads a QR code out of a picture file of any common format (PNG, JPEG,
// WebP, GIF, TIFF, AVIF): sharp decodes it, ZXing (zxing-cpp in WebAssembly,
// the decoder the phone page uses where the browser has no BarcodeDetector)
// reads it. The .wasm is loaded from node_modules, never fetched.
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import sharp from "sharp";
import { prepareZXingModule, readBarcodes } from "zxing-wasm/reader";

/** A picture larger than this on its longest side is scaled down first: a QR code needs far fewer pixels. */
const MAX_SIDE_PX = 2_000;

let prepared = false;

function prepareDecoder(): void {
  if (prepared) return;
  const wasmPath = createRequire(import.meta.url).resolve("zxing-wasm/reader/zxing_reader.wasm");
  prepareZXingModule({ overrides: { wasmBinary: readFileSync(wasmPath) } });
  prepared = true;
}

/** Why a picture could not be read, worded for the person who passed it. */
export class ImageError extends Error {}

/** The text of the first QR code in the picture at `path`, or null when it holds none. */
export async function readQrFromImage(path: string): Promise<string | null> {
  const bytes = await readFile(path).catch((error: NodeJS.ErrnoException) => {
    throw new ImageError(error.code === "ENOENT" ? `there is no file at ${path}: pass the path of a screenshot or photo of the QR code` : `cannot read ${path} (${error.code ?? error.message})`);
  });
  const image = await sharp(bytes)
    .rotate() // A photo's EXIF orientation, applied.
    .resize({ width: MAX_SIDE_PX, height: MAX_SIDE_PX, fit: "inside", withoutEnlargement: true })
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true })
    .catch(() => {
      throw new ImageError(`${path} is not a picture this phone can read: use a PNG, JPEG or WebP screenshot or photo of the QR code`);
    });
  prepareDecoder();
  const data = new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, image.data.length);
  const [code] = await readBarcodes({ data, width: image.info.width, height: image.info.height, colorSpace: "srgb" } as ImageData, { formats: ["QRCode"], maxNumberOfSymbols: 1 });
  return code?.text || null;
}
