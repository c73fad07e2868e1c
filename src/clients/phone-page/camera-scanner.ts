// The phone page's QR scanner: the back camera, read by the browser's
// BarcodeDetector where it has one, and by jsQR frame by frame where not.
import jsQR from "jsqr";
import { parseQrText } from "../../shared/protocol";

interface BarcodeDetectorLike {
  detect(source: CanvasImageSource): Promise<{ rawValue: string }[]>;
}

/** jsQR on one frame of a video or a picture. */
export function decodeQr(source: CanvasImageSource, width: number, height: number, canvas = document.createElement("canvas")): string | undefined {
  if (!width || !height) return undefined;
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d", { willReadFrequently: true })!;
  context.drawImage(source, 0, 0, width, height);
  return jsQR(context.getImageData(0, 0, width, height).data, width, height)?.data;
}

export class CameraScanner {
  private camera: MediaStream | null = null;

  /**
   * Shows the back camera in `video` and reads it until a QR Link code is in
   * view, which goes to `found`, or until `stop`. Without a camera (or
   * without permission) nothing happens: the page offers paste and picture.
   */
  async start(video: HTMLVideoElement, found: (text: string) => void): Promise<void> {
    if (!navigator.mediaDevices?.getUserMedia) return;
    try {
      this.camera = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    } catch {
      return;
    }
    video.srcObject = this.camera;
    await video.play();
    const detector = "BarcodeDetector" in window ? new (window as unknown as { BarcodeDetector: new (options: object) => BarcodeDetectorLike }).BarcodeDetector({ formats: ["qr_code"] }) : null;
    const canvas = document.createElement("canvas");
    const tick = async () => {
      if (!this.camera) return;
      const text = detector ? (await detector.detect(video).catch(() => []))[0]?.rawValue : decodeQr(video, video.videoWidth, video.videoHeight, canvas);
      if (text && parseQrText(text)) return found(text);
      requestAnimationFrame(() => void tick());
    };
    void tick();
  }

  stop(): void {
    for (const track of this.camera?.getTracks() ?? []) track.stop();
    this.camera = null;
  }
}
