// A QR code drawn as a PNG, as the browser page draws it (qrcode-svg, dark on
// light, quiet zone), rasterised by sharp: for the CLI's --image and the scanner's frames.
import QRCode from "qrcode-svg";
import sharp from "sharp";

export function renderQrPng(text: string, sizePx = 400): Promise<Buffer> {
  const svg = new QRCode({ content: text, padding: 4, ecl: "M", join: true, color: "#111111", background: "#ffffff", width: sizePx, height: sizePx }).svg();
  return sharp(Buffer.from(svg)).png().toBuffer();
}
