// The phone page's QR scanner: the back camera, read by the browser's
// BarcodeDetector where it reads QR codes, and by the same API's ZXing
// polyfill (zxing-cpp in WebAssembly, served from /build like the page's
// script) where not. It guides the user while no code is read, and says
// what to do when the camera cannot be used.
import { BarcodeDetector as ZxingBarcodeDetector, prepareZXingModule } from "barcode-detector/ponyfill";
import { parseQrText } from "../../shared/protocol";

interface QrDetector {
  detect(source: ImageBitmapSource): Promise<{ rawValue: string }[]>;
}

/** Where the build puts the ZXing reader (scripts/build-browser.mjs): our origin, never a CDN. */
const ZXING_WASM_URL = "/build/zxing_reader.wasm";

/** When the guidance changes while no code is read; after the last, the paste and picture routes are offered. */
const SCAN_HINTS: readonly { afterMs: number; text: string }[] = [
  { afterMs: 0, text: "Point the camera at the QR code on the computer." },
  { afterMs: 3_000, text: "Move closer: the code should fill most of the square." },
  { afterMs: 6_000, text: "Hold steady, and tilt the phone so the screen does not shine." },
  { afterMs: 10_000, text: "Still no code? Paste the code's text or pick a picture of it below." },
];

/** What to tell the user `elapsedMs` into a scan that has read nothing yet. */
export function scanHint(elapsedMs: number): string {
  return SCAN_HINTS.findLast((hint) => elapsedMs >= hint.afterMs)!.text;
}

/** Why the camera could not be used, and what to do about it. */
function cameraProblem(error: unknown): string {
  const name = error instanceof DOMException ? error.name : "";
  if (name === "NotAllowedError" || name === "SecurityError") {
    return "The camera is blocked for this page. To allow it, open the site settings (the icon left of the address) and allow the camera, then tap Link a device again. Or paste the code's text or pick a picture of it below.";
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") return "This device has no camera this page can use. Paste the code's text or pick a picture of it below.";
  if (name === "NotReadableError") return "The camera is busy in another app. Close it and tap Link a device again, or paste the code's text or pick a picture of it below.";
  return "The camera could not start. Paste the code's text or pick a picture of it below.";
}

let detector: Promise<QrDetector> | null = null;

/** The browser's own detector when it reads QR codes, else ZXing's; made once. */
function qrDetector(): Promise<QrDetector> {
  detector ??= (async () => {
    const native = (globalThis as { BarcodeDetector?: typeof ZxingBarcodeDetector }).BarcodeDetector;
    if (native && (await native.getSupportedFormats().catch((): string[] => [])).includes("qr_code")) return new native({ formats: ["qr_code"] });
    prepareZXingModule({ overrides: { locateFile: (path: string, prefix: string) => (path.endsWith(".wasm") ? ZXING_WASM_URL : prefix + path) } });
    return new ZxingBarcodeDetector({ formats: ["qr_code"] });
  })();
  return detector;
}

/** The text of the first QR code in a picture or a video frame, if any. */
export async function decodeQr(source: ImageBitmapSource): Promise<string | undefined> {
  const [code] = await (await qrDetector()).detect(source);
  return code?.rawValue;
}

export interface ScanEvents {
  /** A QR Link code was read. */
  found(text: string): void;
  /** What to tell the user now: guidance while scanning, or why the camera cannot be used. */
  status(text: string, problem: boolean): void;
}

export class CameraScanner {
  private camera: MediaStream | null = null;
  private hintTimer: ReturnType<typeof setInterval> | undefined;

  /**
   * Shows the back camera in `video` and reads it until a QR Link code is in
   * view, which goes to `found`, or until `stop`. Without a camera (or
   * without permission) the status says why; paste and picture remain.
   */
  async start(video: HTMLVideoElement, events: ScanEvents): Promise<void> {
    this.stop();
    if (!navigator.mediaDevices?.getUserMedia) return events.status(cameraProblem(new DOMException("", "NotFoundError")), true);
    try {
      this.camera = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      video.srcObject = this.camera;
      await video.play();
    } catch (error) {
      this.stop();
      return events.status(cameraProblem(error), true);
    }
    const started = Date.now();
    let shown = "";
    const guide = () => {
      const text = scanHint(Date.now() - started);
      if (text !== shown) events.status((shown = text), false);
    };
    guide();
    this.hintTimer = setInterval(guide, 500);
    const reader = await qrDetector();
    const camera = this.camera;
    while (this.camera === camera && camera) {
      const text = video.videoWidth ? (await reader.detect(video).catch(() => []))[0]?.rawValue : undefined;
      if (this.camera !== camera) return;
      if (text && parseQrText(text)) {
        this.stop();
        return events.found(text);
      }
      if (text) events.status("That QR code is not a QR Link code. Point the camera at the code on the computer.", false);
      await new Promise((resolve) => requestAnimationFrame(resolve));
    }
  }

  stop(): void {
    clearInterval(this.hintTimer);
    for (const track of this.camera?.getTracks() ?? []) track.stop();
    this.camera = null;
  }
}
