// AES-256-GCM with a 16-byte tag, for relay frames and media chunks. WebCrypto
// everywhere but Node, where each WebCrypto call is a round trip to libuv's
// thread pool (15 to 60 µs on a busy machine, for 2 µs of AES on 1 KiB):
// there the same OpenSSL cipher runs synchronously through node:crypto, on
// the same CryptoKey. Both give identical bytes (test/unit/aes-gcm.test.ts).

export interface AesGcmParams {
  iv: Uint8Array<ArrayBuffer>;
  additionalData: Uint8Array<ArrayBuffer>;
}

export interface AesGcm {
  /** Ciphertext ‖ tag. */
  encrypt(key: CryptoKey, params: AesGcmParams, plaintext: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>>;
  /** The plaintext, or null when the tag does not verify (nothing of an unverified plaintext is returned). */
  decrypt(key: CryptoKey, params: AesGcmParams, sealed: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer> | null>;
}

const TAG_BYTES = 16;

export const webCryptoAesGcm: AesGcm = {
  async encrypt(key, params, plaintext) {
    return new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", ...params }, key, plaintext));
  },
  async decrypt(key, params, sealed) {
    // Shorter than a tag cannot open: refused here, as the Node route does, so no engine's own error for it matters.
    if (sealed.length < TAG_BYTES) return null;
    try {
      return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", ...params }, key, sealed));
    } catch (error) {
      // A tag that does not verify is an answer; a key of the wrong kind is the caller's mistake, and says so.
      if ((error as { name?: unknown } | null)?.name === "OperationError") return null;
      throw error;
    }
  },
};

/** The few node:crypto members used here (src/shared is typed without any runtime's own types). */
interface NodeCipher {
  setAAD(data: Uint8Array): unknown;
  update(data: Uint8Array): Uint8Array;
  final(): Uint8Array;
}
interface NodeCrypto {
  KeyObject: { from(key: CryptoKey): unknown };
  createCipheriv(algorithm: string, key: unknown, iv: Uint8Array, options: { authTagLength: number }): NodeCipher & { getAuthTag(): Uint8Array };
  createDecipheriv(algorithm: string, key: unknown, iv: Uint8Array, options: { authTagLength: number }): NodeCipher & { setAuthTag(tag: Uint8Array): unknown };
}

/** Node's synchronous cipher over the same key; the KeyObject of each CryptoKey is made once. */
export function nodeAesGcm(node: NodeCrypto): AesGcm {
  const keyObjects = new WeakMap<CryptoKey, unknown>();
  const keyObject = (key: CryptoKey) => {
    let found = keyObjects.get(key);
    if (found === undefined) keyObjects.set(key, (found = node.KeyObject.from(key)));
    return found;
  };
  const algorithm = (key: CryptoKey, usage: "encrypt" | "decrypt") => {
    const { name, length } = key.algorithm as { name: string; length?: number };
    // WebCrypto refuses a key of another algorithm or usage; so does this.
    if (name !== "AES-GCM" || !key.usages.includes(usage)) throw new TypeError(`not an AES-GCM key for ${usage}`);
    return `aes-${length}-gcm`;
  };
  /** A plain Uint8Array over its own buffer (Node hands back Buffers, which may share a pool). */
  const own = (bytes: Uint8Array): Uint8Array<ArrayBuffer> =>
    bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length ? new Uint8Array(bytes.buffer as ArrayBuffer) : new Uint8Array(bytes);
  const join = (a: Uint8Array, b: Uint8Array) => {
    const out = new Uint8Array(a.length + b.length);
    out.set(a);
    out.set(b, a.length);
    return out;
  };
  return {
    async encrypt(key, { iv, additionalData }, plaintext) {
      const cipher = node.createCipheriv(algorithm(key, "encrypt"), keyObject(key), iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(additionalData);
      const body = cipher.update(plaintext);
      const tail = cipher.final();
      return join(tail.length ? join(body, tail) : body, cipher.getAuthTag());
    },
    async decrypt(key, { iv, additionalData }, sealed) {
      const name = algorithm(key, "decrypt");
      if (sealed.length < TAG_BYTES) return null;
      const decipher = node.createDecipheriv(name, keyObject(key), iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(additionalData);
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      const body = decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES));
      try {
        // final() checks the tag: until it returns, `body` is unverified and stays here.
        const tail = decipher.final();
        return tail.length ? join(body, tail) : own(body);
      } catch {
        return null;
      }
    },
  };
}

function runtimeNodeCrypto(): NodeCrypto | null {
  const runtime = globalThis as { process?: { versions?: { node?: string }; getBuiltinModule?(id: string): unknown }; navigator?: { userAgent?: string } };
  // workerd also answers to node:crypto (nodejs_compat), but its WebCrypto runs on the calling thread already.
  if (!runtime.process?.versions?.node || runtime.navigator?.userAgent === "Cloudflare-Workers") return null;
  return (runtime.process.getBuiltinModule?.("node:crypto") as NodeCrypto | undefined) ?? null;
}

const nodeCrypto = runtimeNodeCrypto();

/** The route this runtime takes. */
export const aesGcm: AesGcm = nodeCrypto ? nodeAesGcm(nodeCrypto) : webCryptoAesGcm;
