// One PairingSession per QR session, addressed by its session id (and once
// linked, its relay by its own id, the link id, which no QR shows): a thin
// adapter from the Durable Object's entry points (upgrades, RPC, socket
// events, the alarm) to the concern modules beside it.
import { DurableObject } from "cloudflare:workers";
import { CLOSE_CODES, HEARTBEAT, LIMITS, parseClientMessage, type AccountInfo, type CodeFindResponse, type CodeTryRequest, type ConfirmResponse, type DeviceContext, type DeviceRequestParts, verifyDeviceRequest } from "../../shared/protocol";
import { sessionConfig } from "../config";
import type { Place } from "../device-context";
import { failure, success, type Outcome } from "../outcome";
import { importIdentityPublicKey } from "../../shared/crypto";
import { fullAllowance, spend } from "./allowance";
import { CodeLinking } from "./code";
import { dispatch, type Handlers } from "./dispatch";
import { SqlFrameStore } from "./frame-store";
import { Lifecycle } from "./lifecycle";
import type { SessionParts } from "./parts";
import { Relay } from "./relay";
import { answerClose, attachmentOf, close, closeOnError, send, Sockets } from "./sockets";
import { SessionStore } from "./store";
import { upgrade } from "./upgrades";

export class PairingSession extends DurableObject<Env> {
  private readonly parts: SessionParts;
  private readonly handlers: Handlers;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(HEARTBEAT.request, HEARTBEAT.response));
    // A relay write that fails leaves the sockets ahead of the database: all of them reconnect and resume from `ready`.
    const frames = new SqlFrameStore(ctx.storage, (error) => {
      for (const ws of ctx.getWebSockets()) closeOnError(ws, error);
    });
    const parts: SessionParts = {
      ctx,
      env,
      config: sessionConfig(env),
      store: new SessionStore(ctx, frames),
      frames,
      sockets: new Sockets(ctx),
      allowances: new Map(),
    };
    this.parts = parts;
    const lifecycle = new Lifecycle(parts);
    this.handlers = { parts, lifecycle, relay: new Relay(parts), code: new CodeLinking(parts, lifecycle) };
  }

  /** WebSocket upgrades forwarded by the Worker: a new session, a browser resuming, or the phone's relay. */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade") !== "websocket") return new Response("expected a WebSocket upgrade", { status: 400 });
    // A socket joining is told who is there: sockets that went silent are closed first.
    if (this.parts.store.session()?.state === "linked") this.handlers.lifecycle.closeSilentSockets(Date.now());
    const response = upgrade(this.handlers, request);
    await this.handlers.lifecycle.rearm();
    return response;
  }

  override async alarm(): Promise<void> {
    await this.handlers.lifecycle.runDeadlines(Date.now());
  }

  /** A phone scanned the QR, committing its key-agreement half. `phonePlace` is where the phone's request came from. */
  async inspect(token: string, phoneNumber: string, phonePlace: Place, phonePublicKey: string): Promise<Outcome<DeviceContext>> {
    return this.handlers.lifecycle.scan(token, phoneNumber, phonePlace, phonePublicKey, Date.now());
  }

  /** The phone that scanned confirms, with its key-agreement half and its MAC over the transcript. */
  async confirm(account: AccountInfo, phonePublicKey: string, confirmation: string): Promise<Outcome<ConfirmResponse>> {
    return this.handlers.lifecycle.confirm({ account, phonePublicKey, confirmation }, Date.now());
  }

  async reject(phoneNumber: string, reason?: "wrong_number"): Promise<Outcome<null>> {
    return this.handlers.lifecycle.reject(phoneNumber, reason);
  }

  /** The number's phone looks for its waiting code session (linking with a code). */
  async codeFind(phoneNumber: string, phonePlace: Place): Promise<Outcome<CodeFindResponse>> {
    return this.handlers.code.find(phoneNumber, phonePlace, Date.now());
  }

  /** The number's phone tries the code its user typed; answered once the browser checked it. */
  async codeTry(account: AccountInfo, attempt: CodeTryRequest): Promise<Outcome<null>> {
    return this.handlers.code.try(account, attempt, Date.now());
  }

  /** The phone's key changed: its relay sockets, opened with the old one, close (4409); the phone reconnects with the new key. */
  async closePhoneSockets(): Promise<void> {
    for (const ws of this.parts.sockets.of("phone")) close(ws, CLOSE_CODES.replaced, "the phone's key changed; reconnect with the new key");
  }

  /** The account ends this link: the phone revoked it, or the phone has been away too long. Safe to call twice. */
  async endLink(reason: "revoked" | "inactive"): Promise<void> {
    const state = this.parts.store.session()?.state;
    if (state === "linked" || state === "confirming") await this.handlers.lifecycle.end(reason);
  }

  /**
   * A linked browser's signed media request: verified with the device key
   * this link registered, answering the account it belongs to.
   */
  async verifyDeviceRequest(parts: DeviceRequestParts, signature: string): Promise<Outcome<{ number: string }>> {
    const session = this.parts.store.session();
    const key = session?.state === "linked" && session.devicePublicKey ? await importIdentityPublicKey(session.devicePublicKey) : null;
    if (!session || session.state !== "linked" || !key || !(await verifyDeviceRequest(key, parts, signature))) {
      return failure("forbidden", "this request is not signed by the device key of a linked browser");
    }
    return success({ number: session.proof.account.number });
  }

  override async webSocketMessage(ws: WebSocket, raw: string | ArrayBuffer): Promise<void> {
    try {
      // Counted before anything is parsed, so a flood costs as little as possible.
      const rate = this.parts.config.socketMessagesPerSecond;
      const now = Date.now();
      const allowance = this.parts.allowances.get(ws) ?? fullAllowance(rate, now);
      this.parts.allowances.set(ws, allowance);
      const decision = spend(allowance, rate, now);
      if (!decision.allowed) {
        if (decision.tell) send(ws, { type: "error", code: "rate_limited", message: `at most ${rate} messages a second; send again in ${decision.tell.retryAfterMs} ms`, ...decision.tell });
        return;
      }
      if (byteLength(raw) > LIMITS.relayMessageBytes) return close(ws, CLOSE_CODES.message_too_large, "message too large");
      const message = parseClientMessage(raw);
      // Only text parses; the second test tells the compiler so.
      if (!message || typeof raw !== "string") return close(ws, CLOSE_CODES.bad_message, "malformed message");
      const session = this.parts.store.session();
      const attachment = attachmentOf(ws);
      if (!session || session.state === "ended" || !attachment) return close(ws, CLOSE_CODES.unknown_session, "session gone");
      if (session.state === "linked") {
        this.handlers.lifecycle.noticeSilence(now);
        if (attachment.role === "browser" && attachment.verified) await this.handlers.lifecycle.browserActive(now);
      }
      await dispatch(this.handlers, { ws, attachment, session, text: raw }, message);
    } catch (error) {
      closeOnError(ws, error);
    }
  }

  /**
   * Answers the client's close, then: a tab that goes away before linking
   * leaves nothing behind, nor does one that goes before registering its
   * device key (nothing could resume that link, and it would hold one of the
   * account's device slots). A phone that goes away is offline.
   */
  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    answerClose(ws, code, reason);
    this.parts.allowances.delete(ws);
    const { sockets, store } = this.parts;
    const others = (role: "browser" | "phone") => sockets.of(role).filter((socket) => socket !== ws);
    if (attachmentOf(ws)?.role === "phone") {
      if (others("phone").length === 0) sockets.announceTo("browser", { type: "presence", phone: "offline" });
      return this.handlers.lifecycle.rearm();
    }
    const session = store.session();
    if (!session || others("browser").length > 0) return this.handlers.lifecycle.rearm();
    if (session.state === "pending" || session.state === "scanned") {
      this.handlers.code.browserGone();
      return store.wipe();
    }
    if (session.state === "confirming" || (session.state === "linked" && !session.devicePublicKey)) return this.handlers.lifecycle.end("expired");
    await this.handlers.lifecycle.rearm();
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.webSocketClose(ws, 1006, "error");
  }
}

/** A message's size in bytes; text is counted as UTF-8 only when its length alone cannot settle it. */
function byteLength(raw: string | ArrayBuffer): number {
  if (typeof raw !== "string") return raw.byteLength;
  return raw.length * 3 <= LIMITS.relayMessageBytes ? raw.length : new TextEncoder().encode(raw).byteLength;
}
