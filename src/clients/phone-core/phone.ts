// The phone side of QR Link, for any JavaScript runtime with fetch and
// WebCrypto: the CLI uses it today, the /phone page shares it.
import { BlobClient } from "../../shared/blob-transfer";
import {
  deriveLinkKeys,
  generateAgreementKeyPair,
  type AgreementKeyPair,
  sha256Base64url,
  signConfirmation,
  signKeyRotation,
  signRequest,
  type IdentityKeyPair,
  type LinkKeys,
} from "../../shared/crypto";
import {
  credentialsToSubprotocols,
  SIGNATURE_HEADERS,
  type AccountInfo,
  type ConfirmRequest,
  type ConfirmResponse,
  type DeviceContext,
  type ErrorBody,
  type InspectRequest,
  type LinkedDevice,
  type QrPayload,
  type RegisterRequest,
  type RejectRequest,
  type RevokeRequest,
  type RotateKeyRequest,
} from "../../shared/protocol";
import { matchingNumber, numberChoices } from "../../shared/number-matching";
import { webSocketUrl } from "../connection/connection";

export interface PhoneIdentity {
  number: string;
  name: string;
  privateKey: CryptoKey;
  publicKey: string;
}

/** A refusal from the server, with the protocol's error code. */
export class ServerError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ServerError";
  }
}

/** What the phone shows after a scan: who asks to be linked, and the numbers to pick from. */
export interface Inspection extends DeviceContext {
  /** The two digits the browser shows, derived from the key agreement: the right pick. */
  matchingNumber: string;
  /** `matchingNumber` and two distinct decoys, in random order. */
  choices: string[];
}

/** A scan waiting for the user: the key-agreement half committed with `inspect`, which `confirm` must use. */
interface PendingScan {
  agreement: AgreementKeyPair;
  /** When the scan was committed: the session waits CONFIRM_WINDOW_MS from then for the confirm. */
  scannedAt: number;
}

/**
 * How long a scanned session waits for the confirm (CONFIRM_TIMEOUT_MS on
 * the server); a confirm is resent until then, never after.
 */
export const CONFIRM_WINDOW_MS = 60_000;
/** The first wait before a confirm is resent; it doubles each time, up to CONFIRM_RETRY_MAX_MS. */
export const CONFIRM_RETRY_FIRST_MS = 500;
const CONFIRM_RETRY_MAX_MS = 4_000;

/** Errors thrown by the fetcher itself (the request never got an answer), as opposed to a refusal or a local failure. */
const networkFailures = new WeakSet<object>();

/**
 * Whether a confirm that failed this way may have been, or may yet be,
 * carried out by the server: it answered 503 `unavailable` (it finishes the
 * link on its own a moment later), or no answer came at all (a lost reply).
 */
function confirmMayHaveLanded(error: unknown): boolean {
  if (error instanceof ServerError) return error.status === 503 && error.code === "unavailable";
  return typeof error === "object" && error !== null && networkFailures.has(error);
}

/**
 * Where a linked session's relay is: its link id, which no QR code shows; a
 * link made before link ids existed has only its session id.
 */
export interface RelayAddress {
  sessionId: string;
  linkId?: string | undefined;
}

export interface Link {
  account: AccountInfo;
  /** The relay's address from now on (see RelayAddress); keep it with the link. */
  linkId: string;
  keys: LinkKeys;
  /** The phone's X25519 half, kept so the link keys can be derived again later. */
  agreement: AgreementKeyPair;
}

export class Phone {
  /** Scans by session id, between `inspect` and `confirm` or `reject`. */
  private readonly scans = new Map<string, PendingScan>();

  constructor(
    readonly server: string,
    readonly identity: PhoneIdentity,
    /** How requests reach the server; tests pass the Worker's own fetch. */
    private readonly fetcher: (request: Request) => Promise<Response> = (request) => fetch(request),
  ) {}

  /** Registers this phone's number and identity key (again, to change the name). */
  register(): Promise<AccountInfo> {
    const { number, name, publicKey } = this.identity;
    return this.post<RegisterRequest, AccountInfo>("/api/accounts", { number, name, publicKey });
  }

  /**
   * Spends the scanned token and returns what is asking to be linked, with the
   * numbers to pick from. The phone's key-agreement half is made here and
   * committed with the scan, before the browser shows its number; `confirm`
   * uses the same. `extractableKey` only for the CLI, which keeps it in a file.
   */
  async inspect(qr: QrPayload, options: { extractableKey?: boolean } = {}): Promise<Inspection> {
    const agreement = await generateAgreementKeyPair(options.extractableKey);
    const keys = await deriveLinkKeys(agreement.privateKey, qr.browserPublicKey, qr.qrSecret, qr.sessionId);
    if (!keys) throw new Error("the QR code holds a key that cannot be used");
    const context = await this.post<InspectRequest, DeviceContext>("/api/link/inspect", { sessionId: qr.sessionId, token: qr.token, phonePublicKey: agreement.publicKey });
    this.commitScan(qr.sessionId, agreement);
    const right = await matchingNumber(keys, { sessionId: qr.sessionId, browserPublicKey: qr.browserPublicKey, phonePublicKey: agreement.publicKey });
    return { ...context, matchingNumber: right, choices: numberChoices(right) };
  }

  /** Remembers the key-agreement half committed for a session (by `inspect`, or by a code try): `confirm` uses it. */
  commitScan(sessionId: string, agreement: AgreementKeyPair): void {
    this.scans.set(sessionId, { agreement, scannedAt: Date.now() });
  }

  /**
   * The confirm request for a scan, with its MAC over the transcript (session,
   * both keys, this phone's number and name), and the keys behind it. Without
   * an `inspect` first the key is a fresh one, which the session refuses.
   */
  async confirmRequest(qr: QrPayload): Promise<{ body: ConfirmRequest; keys: LinkKeys; agreement: AgreementKeyPair }> {
    const agreement = this.scans.get(qr.sessionId)?.agreement ?? (await generateAgreementKeyPair());
    const keys = await deriveLinkKeys(agreement.privateKey, qr.browserPublicKey, qr.qrSecret, qr.sessionId);
    if (!keys) throw new Error("the QR code holds a key that cannot be used");
    const confirmation = await signConfirmation(keys, {
      sessionId: qr.sessionId,
      browserPublicKey: qr.browserPublicKey,
      phonePublicKey: agreement.publicKey,
      number: this.identity.number,
      name: this.identity.name,
    });
    return { body: { sessionId: qr.sessionId, phonePublicKey: agreement.publicKey, confirmation }, keys, agreement };
  }

  /**
   * Completes the key agreement with the browser's QR key and proves it with
   * a MAC the server cannot forge. Call it once the user picked the right
   * number. When the server answers 503 `unavailable`, or no answer comes,
   * the server may still link (it retries on its own), so the same body is
   * sent again, freshly signed, with a growing pause (0.5 s, 1 s, 2 s, …)
   * until the confirmation window is over: the server answers a repeated
   * confirm as it did the first, and the link's keys are not lost.
   */
  async confirm(qr: QrPayload): Promise<Link> {
    const { body, keys, agreement } = await this.confirmRequest(qr);
    const deadline = (this.scans.get(qr.sessionId)?.scannedAt ?? Date.now()) + CONFIRM_WINDOW_MS;
    let pause = CONFIRM_RETRY_FIRST_MS;
    for (;;) {
      try {
        const { linkId, number, name } = await this.post<ConfirmRequest, ConfirmResponse>("/api/link/confirm", body);
        this.scans.delete(qr.sessionId);
        return { account: { number, name }, linkId, keys, agreement };
      } catch (error) {
        if (!confirmMayHaveLanded(error) || Date.now() + pause > deadline) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, CONFIRM_RETRY_MAX_MS);
    }
  }

  /** Says no; with `wrong_number`, the user picked a number the browser does not show, and the browser is told. */
  async reject(qr: QrPayload, reason?: "wrong_number"): Promise<void> {
    this.scans.delete(qr.sessionId);
    await this.post<RejectRequest, null>("/api/link/reject", reason ? { sessionId: qr.sessionId, reason } : { sessionId: qr.sessionId });
  }

  /** The server's host, which every signature names, so it is good for that server only. */
  get host(): string {
    return new URL(this.server).host;
  }

  /** Photos and files to and from the server, signed as this phone. */
  blobClient(): BlobClient {
    return new BlobClient(this.server, (method, path, bodyHash) => this.signedHeaders(method, path, bodyHash), this.fetcher);
  }

  /** The headers that sign a request over the server's host, the number, method, path, time and body hash. */
  async signatureHeaders(method: string, path: string, body: string, timestamp = String(Date.now())): Promise<Record<string, string>> {
    return this.signedHeaders(method, path, await sha256Base64url(body), timestamp);
  }

  /** The same over a body hash given (a media part signs UNSIGNED_PAYLOAD instead); a BlobSigner. */
  async signedHeaders(method: string, path: string, bodyHash: string, timestamp = String(Date.now())): Promise<Record<string, string>> {
    const { number, privateKey } = this.identity;
    const signature = await signRequest(privateKey, { host: this.host, number, method, path, timestamp, bodyHash });
    return {
      [SIGNATURE_HEADERS.number]: this.identity.number,
      [SIGNATURE_HEADERS.timestamp]: timestamp,
      [SIGNATURE_HEADERS.signature]: signature,
    };
  }

  /** The URL of the relay socket for a linked session: at its link id, or for a link made before link ids, at its session id. */
  relayUrl(link: RelayAddress): { url: string; path: string } {
    const path = link.linkId ? `/api/links/${link.linkId}/phone` : `/api/sessions/${link.sessionId}/phone`;
    return { url: webSocketUrl(path, this.server), path };
  }

  /**
   * The relay socket's URL and its signature, made now, as subprotocols: a
   * page cannot set headers on a WebSocket, and the CLI signs the same way.
   */
  async relaySocket(link: RelayAddress): Promise<{ url: string; protocols: string[] }> {
    const { url, path } = this.relayUrl(link);
    const headers = await this.signatureHeaders("GET", path, "");
    const credentials = {
      number: this.identity.number,
      timestamp: headers[SIGNATURE_HEADERS.timestamp]!,
      signature: headers[SIGNATURE_HEADERS.signature]!,
    };
    return { url, protocols: credentialsToSubprotocols(credentials) };
  }

  /** The phone's "Linked devices". */
  devices(): Promise<LinkedDevice[]> {
    return this.request<LinkedDevice[]>("GET", "/api/devices");
  }

  /** Logs one of this account's browsers out. */
  async revoke(sessionId: string): Promise<void> {
    await this.post<RevokeRequest, null>("/api/devices/revoke", { sessionId });
  }

  /**
   * Moves this account to `next`: the request is signed by the current key,
   * and `next` signs the rotation statement (proof of possession). Once the
   * server agreed, this phone signs with `next`; the old key is refused from
   * then on, so the caller stores `next` before anything else.
   */
  async rotateKey(next: IdentityKeyPair): Promise<AccountInfo> {
    const path = "/api/accounts/rotate-key";
    const timestamp = String(Date.now());
    const { number, publicKey: oldPublicKey } = this.identity;
    const proof = await signKeyRotation(next.privateKey, { host: this.host, number, oldPublicKey, newPublicKey: next.publicKey, timestamp });
    const body: RotateKeyRequest = { publicKey: next.publicKey, proof };
    const account = await this.request<AccountInfo>("POST", path, JSON.stringify(body), timestamp);
    this.identity.privateKey = next.privateKey;
    this.identity.publicKey = next.publicKey;
    return account;
  }

  /** A signed POST with a JSON body; the reply, or a ServerError. */
  post<Body, Reply>(path: string, body: Body): Promise<Reply> {
    return this.request<Reply>("POST", path, JSON.stringify(body));
  }

  private async request<Reply>(method: "GET" | "POST", path: string, text?: string, timestamp?: string): Promise<Reply> {
    const headers = { ...(text === undefined ? {} : { "content-type": "application/json" }), ...(await this.signatureHeaders(method, path, text ?? "", timestamp)) };
    const response = await this.fetcher(new Request(new URL(path, this.server), { method, headers, body: text })).catch((error: unknown) => {
      if (typeof error === "object" && error !== null) networkFailures.add(error);
      throw error;
    });
    const reply = (await response.json().catch(() => null)) as Reply | ErrorBody | null;
    if (!response.ok) {
      const error = (reply as ErrorBody | null)?.error;
      throw new ServerError(response.status, error?.code ?? "http_error", error?.message ?? `the server answered ${response.status}`);
    }
    return reply as Reply;
  }
}
