// Camera frames for Chromium's fake camera: a QR code degraded as a phone's
// camera sees it (small, tilted, blurred, washed out), written as a still
// .png for zbarimg and the CLI and as a .y4m video for
// --use-file-for-fake-video-capture. sharp makes both; no ffmpeg needed.
import { writeFile } from "node:fs/promises";
import sharp from "sharp";

export interface Degradation {
  name: string;
  /** The code's side in the frame, quiet zone included. */
  sizePx: number;
  tiltDeg: number;
  /** Gaussian blur sigma; 0 for none. */
  blur: number;
  /** How much of the black-to-white range is left (1: all, 0.3: washed out). */
  contrast: number;
}

export const FRAME = { width: 640, height: 480 };

const degraded = (sizePx: number, tiltDeg: number, blur: number, contrast: number): Degradation => ({
  name: `${sizePx} px, ${tiltDeg}° tilt, blur ${blur}, contrast ${contrast}`,
  sizePx,
  tiltDeg,
  blur,
  contrast,
});

/** The frames the scanner is measured on: the (about 160 px, 8°, slightly blurred, low contrast) and around it. */
export const DEGRADATIONS: Degradation[] = [
  degraded(300, 0, 0, 1),
  degraded(160, 8, 0, 0.5),
  degraded(160, 8, 1, 0.3),
  degraded(160, 8, 1, 0.5),
  degraded(200, 20, 1, 0.3),
  degraded(240, 8, 2, 0.5),
  degraded(300, 20, 2, 0.3),
  degraded(160, 0, 2, 0.5),
];

/** One camera frame with the code (a picture of it, quiet zone included) in it, degraded; and its raw RGB. */
async function frame(codePng: Buffer, degradation: Degradation): Promise<{ png: Buffer; rgb: Buffer }> {
  const { sizePx, tiltDeg, blur, contrast } = degradation;
  const scaled = await sharp(codePng).resize(sizePx, sizePx, { kernel: "linear" }).png().toBuffer();
  const code = await sharp(scaled)
    .rotate(tiltDeg, { background: "#ffffff" })
    .png()
    .toBuffer();
  const meta = await sharp(code).metadata();
  let image = sharp({ create: { ...FRAME, channels: 3, background: "#ffffff" } }).composite([
    { input: code, left: Math.round((FRAME.width - meta.width) / 2), top: Math.round((FRAME.height - meta.height) / 2) },
  ]);
  // Composite first, then degrade the whole frame, as a lens and sensor would.
  image = sharp(await image.png().toBuffer());
  if (blur > 0) image = image.blur(blur);
  // Washed out: black becomes grey, white a dimmer grey.
  image = image.linear(contrast, 255 * (1 - contrast) * 0.6);
  const png = await image.png().toBuffer();
  const rgb = await sharp(png).removeAlpha().raw().toBuffer();
  return { png, rgb };
}

/** RGB to 4:2:0 YUV (BT.601, full range, as C420jpeg says), the fake camera's format. */
function yuv420(rgb: Buffer, width: number, height: number): Buffer {
  const y = Buffer.alloc(width * height);
  const u = Buffer.alloc((width / 2) * (height / 2));
  const v = Buffer.alloc((width / 2) * (height / 2));
  const clamp = (value: number) => Math.max(0, Math.min(255, Math.round(value)));
  for (let row = 0; row < height; row++) {
    for (let column = 0; column < width; column++) {
      const at = (row * width + column) * 3;
      const [r, g, b] = [rgb[at]!, rgb[at + 1]!, rgb[at + 2]!];
      y[row * width + column] = clamp(0.299 * r + 0.587 * g + 0.114 * b);
      if (row % 2 === 0 && column % 2 === 0) {
        const chroma = (row / 2) * (width / 2) + column / 2;
        u[chroma] = clamp(128 - 0.168736 * r - 0.331264 * g + 0.5 * b);
        v[chroma] = clamp(128 + 0.5 * r - 0.418688 * g - 0.081312 * b);
      }
    }
  }
  return Buffer.concat([y, u, v]);
}

/** Writes `<base>.png` (one frame) and `<base>.y4m` (the same frame, a few times, at 10 fps). */
export async function writeCameraFrames(codePng: Buffer, degradation: Degradation, base: string): Promise<{ png: string; y4m: string }> {
  const { png, rgb } = await frame(codePng, degradation);
  const { width, height } = FRAME;
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F10:1 Ip A1:1 C420jpeg\n`);
  const picture = Buffer.concat([Buffer.from("FRAME\n"), yuv420(rgb, width, height)]);
  await writeFile(`${base}.png`, png);
  await writeFile(`${base}.y4m`, Buffer.concat([header, picture, picture, picture, picture, picture]));
  return { png: `${base}.png`, y4m: `${base}.y4m` };
}
