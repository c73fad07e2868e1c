import { describe, expect, it } from "vitest";
import { generatedPhoto } from "../../src/clients/phone-core/generated-photo";
import { newBlobSecret } from "../../src/shared/blob-crypto";
import { randomBase64url } from "../../src/shared/crypto";
import { chatMessageSchema, type Attachment } from "../../src/shared/protocol";

function attachment(overrides: Partial<Attachment> = {}): Attachment {
  return {
    blobId: randomBase64url(16),
    kind: "photo",
    secret: newBlobSecret(),
    sha256: randomBase64url(32),
    size: 1234,
    mime: "image/png",
    name: "beach.png",
    thumbnail: "data:image/png;base64,iVBORw0KGgo=",
    chunkBytes: 65_536,
    ...overrides,
  };
}

const message = { id: "m1", chatId: "c1", from: "me", at: 1 };

describe("a message's attachment", () => {
  it("lets a photo go without a caption, but not a message with neither text nor attachment", () => {
    expect(chatMessageSchema.safeParse({ ...message, text: "", attachment: attachment() }).success).toBe(true);
    expect(chatMessageSchema.safeParse({ ...message, text: "" }).success).toBe(false);
  });

  it.each([
    ["a thumbnail that is not an image data URL", { thumbnail: "javascript:alert(1)" }],
    ["an SVG thumbnail (which could carry script)", { thumbnail: "data:image/svg+xml;base64,PHN2Zz4=" }],
    ["a thumbnail too large for the relay's frames", { thumbnail: `data:image/png;base64,${"A".repeat(6_000)}` }],
    ["a secret of the wrong length", { secret: randomBase64url(32) }],
    ["another chunk size", { chunkBytes: 1024 as 65_536 }],
    ["a type that is not type/subtype", { mime: "text/html; charset=utf-8" }],
    ["a photo that is HTML (it could be opened in a tab of this origin)", { mime: "text/html" }],
    ["a photo that is SVG", { mime: "image/svg+xml" }],
  ])("refuses %s", (_what, overrides) => {
    expect(chatMessageSchema.safeParse({ ...message, text: "", attachment: attachment(overrides) }).success).toBe(false);
  });
});

describe("a contact's generated photo", () => {
  it("is a PNG of the asked size, the same for the same seed", async () => {
    const photo = await generatedPhoto(7, 480, 320);
    expect([...photo.subarray(0, 8)]).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
    const header = new DataView(photo.buffer, 16, 8);
    expect([header.getUint32(0), header.getUint32(4)]).toEqual([480, 320]);
    expect(await generatedPhoto(7, 480, 320)).toEqual(photo);
    expect(await generatedPhoto(8, 480, 320)).not.toEqual(photo);
  });

  it("lets a file be of any type: it is only ever downloaded, never shown", () => {
    expect(chatMessageSchema.safeParse({ ...message, text: "", attachment: attachment({ kind: "file", mime: "text/html", thumbnail: undefined }) }).success).toBe(true);
  });
});
