// tokens.ts compares tokens with `crypto.subtle.timingSafeEqual`, a Workers
// extension to WebCrypto that the DOM and Node types lack. The unit tests
// install it from node:crypto (tokens.test.ts); this declares it for them.
export {};

declare global {
  interface SubtleCrypto {
    timingSafeEqual(a: ArrayBuffer | ArrayBufferView, b: ArrayBuffer | ArrayBufferView): boolean;
  }
}
