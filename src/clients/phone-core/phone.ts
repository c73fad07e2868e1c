// The phone side of QR Link, for any JavaScript runtime with fetch and
// WebCrypto: the CLI uses it today, the /phone page shares it.
import {
  deriveLinkKeys,
  generateAgreementKeyPair,
  type AgreementKeyPair,
  sha256Base64url,
  signConfirmation,
  signRequest,
  type LinkKeys,
} from "../../shared/crypto";
import {
  credentialsToSubprotocols,
  SIGNATURE_HEADERS,
  type AccountInfo,
  type ConfirmRequest,
  type DeviceContext,
  type ErrorBody,
  type InspectRequest,
  type LinkedDevice,
  type QrPayload,
  type RegisterRequest,
  type RejectRequest,
  type RevokeRequest,
} from "../../shared/protocol";

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

export interface RelaySocketRequest {
  url: string;
  headers: Record<string, string>;
  protocols: string[];
}

export interface Link {
  account: AccountInfo;
  keys: LinkKeys;
  /** The phone's X25519 half, kept so the link keys can be derived again later. */
  agreement: AgreementKeyPair;
}

export class Phone {
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

  /** Spends the scanned token and returns what is asking to be linked; the browser shows "scanned". */
  inspect(qr: QrPayload): Promise<DeviceContext> {
    return this.post<InspectRequest, DeviceContext>("/api/link/inspect", { sessionId: qr.sessionId, token: qr.token });
  }

  /** Completes the key agreement with the browser's QR key and proves it with a MAC the server cannot forge. */
  async confirm(qr: QrPayload, options: { extractableKey?: boolean } = {}): Promise<Link> {
    const agreement = await generateAgreementKeyPair(options.extractableKey);
    const keys = await deriveLinkKeys(agreement.privateKey, qr.browserPublicKey, qr.qrSecret, qr.sessionId);
    if (!keys) throw new Error("the QR code holds a key that cannot be used");
    const confirmation = await signConfirmation(keys, {
      sessionId: qr.sessionId,
      browserPublicKey: qr.browserPublicKey,
      phonePublicKey: agreement.publicKey,
      number: this.identity.number,
    });
    const account = await this.post<ConfirmRequest, AccountInfo>("/api/link/confirm", {
      sessionId: qr.sessionId,
      phonePublicKey: agreement.publicKey,
      confirmation,
    });
    return { account, keys, agreement };
  }

  async reject(qr: QrPayload): Promise<void> {
    await this.post<RejectRequest, null>("/api/link/reject", { sessionId: qr.sessionId });
  }

  /** The headers that sign a request over method, path, time and body hash. */
  async signatureHeaders(method: string, path: string, body: string): Promise<Record<string, string>> {
    const timestamp = String(Date.now());
    const signature = await signRequest(this.identity.privateKey, { method, path, timestamp, bodyHash: await sha256Base64url(body) });
    return {
      [SIGNATURE_HEADERS.number]: this.identity.number,
      [SIGNATURE_HEADERS.timestamp]: timestamp,
      [SIGNATURE_HEADERS.signature]: signature,
    };
  }

  /** The URL of the relay socket for a linked session. */
  relayUrl(sessionId: string): { url: string; path: string } {
    const path = `/api/sessions/${sessionId}/phone`;
    const url = new URL(path, this.server);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return { url: url.toString(), path };
  }

  /** The relay socket's URL and its signature, as headers (Node) and as subprotocols (a page). */
  async relaySocket(sessionId: string): Promise<RelaySocketRequest> {
    const { url, path } = this.relayUrl(sessionId);
    const headers = await this.signatureHeaders("GET", path, "");
    const credentials = {
      number: this.identity.number,
      timestamp: headers[SIGNATURE_HEADERS.timestamp]!,
      signature: headers[SIGNATURE_HEADERS.signature]!,
    };
    return { url, headers, protocols: credentialsToSubprotocols(credentials) };
  }

  /** The phone's "Linked devices". */
  devices(): Promise<LinkedDevice[]> {
    return this.request<LinkedDevice[]>("GET", "/api/devices");
  }

  /** Logs one of this account's browsers out. */
  async revoke(sessionId: string): Promise<void> {
    await this.post<RevokeRequest, null>("/api/devices/revoke", { sessionId });
  }

  private post<Body, Reply>(path: string, body: Body): Promise<Reply> {
    return this.request<Reply>("POST", path, JSON.stringify(body));
  }

  private async request<Reply>(method: "GET" | "POST", path: string, text?: string): Promise<Reply> {
    const headers = { ...(text === undefined ? {} : { "content-type": "application/json" }), ...(await this.signatureHeaders(method, path, text ?? "")) };
    const response = await this.fetcher(new Request(new URL(path, this.server), { method, headers, body: text }));
    const reply = (await response.json().catch(() => null)) as Reply | ErrorBody | null;
    if (!response.ok) {
      const error = (reply as ErrorBody | null)?.error;
      throw new ServerError(response.status, error?.code ?? "http_error", error?.message ?? `the server answered ${response.status}`);
    }
    return reply as Reply;
  }
}
