// Showing a photo or file a page holds, the same on the browser and the
// phone page: a photo full size in the viewer dialog, a file saved. One
// object URL at a time, revoked when the next opens, so a page does not hold
// every file it showed.
import type { Attachment } from "../../shared/protocol";
import { $ } from "./dom";

let shownUrl: string | null = null;

/** A photo as its own type, to show; a file as plain bytes, so the browser only ever saves it, never renders it. */
export function typedFile(content: BlobPart, attachment: Pick<Attachment, "kind" | "mime">): Blob {
  return new Blob([content], { type: attachment.kind === "photo" ? attachment.mime : "application/octet-stream" });
}

/** Opens a photo full size, or saves a file, from `file` (made by typedFile). */
export function showAttachment(file: Blob, attachment: Pick<Attachment, "kind" | "name">): void {
  if (shownUrl) URL.revokeObjectURL(shownUrl);
  shownUrl = URL.createObjectURL(file);
  if (attachment.kind === "photo") showFullSize(shownUrl, attachment.name);
  else saveAs(shownUrl, attachment.name);
}

function showFullSize(url: string, name: string): void {
  const viewer = $<HTMLDialogElement>("media-viewer");
  const image = $<HTMLImageElement>("media-viewer-image");
  image.src = url;
  image.alt = name;
  if (!viewer.open) viewer.showModal();
}

function saveAs(url: string, name: string): void {
  const anchor = document.createElement("a");
  anchor.href = url;
  anchor.download = name;
  anchor.click();
}
