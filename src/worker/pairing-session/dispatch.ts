// Where each client message is handled: who may send it, in which state, and
// what runs. The table is keyed by every message type of the protocol, so a
// new message type does not compile until it has a route here.
import { importIdentityPublicKey, verifyResume } from "../../shared/crypto";
import { CLOSE_CODES, type ClientMessage } from "../../shared/protocol";
import type { CodeLinking } from "./code";
import type { Lifecycle } from "./lifecycle";
import type { SessionParts } from "./parts";
import type { Relay } from "./relay";
import { attach, close, send, type SocketAttachment } from "./sockets";
import type { LinkedSession, Session } from "./session";

/** The socket a message came on, the message as it came, and the session as it stands. */
export interface Sender {
  ws: WebSocket;
  attachment: SocketAttachment;
  session: Session;
  text: string;
}

export interface Handlers {
  parts: SessionParts;
  lifecycle: Lifecycle;
  relay: Relay;
  code: CodeLinking;
}

type MessageOf<T extends ClientMessage["type"]> = Extract<ClientMessage, { type: T }>;

interface Route<T extends ClientMessage["type"], S extends Session = LinkedSession> {
  /** Whether this socket may send this message now; it is then given the session in the state it needs (linked, for most). */
  allowed(sender: Sender): sender is Sender & { session: S };
  run(handlers: Handlers, sender: Sender & { session: S }, message: MessageOf<T>): void | Promise<void>;
  /** What a sender that may not send it is told: by default its socket is closed as misbehaving. */
  otherwise?: "not_ready";
}

/** Messages of a code session (code.ts), sent before anything is linked. */
type CodeMessage = "code_request" | "code_verdict";
type Routes = { [T in Exclude<ClientMessage["type"], CodeMessage>]: Route<T> } & { [T in CodeMessage]: Route<T, Session> };

const linked = (sender: Sender): sender is Sender & { session: LinkedSession } => sender.session.state === "linked";
const verifiedBrowser = (sender: Sender) => sender.attachment.role === "browser" && sender.attachment.verified;
/** A browser that checked the phone's MAC but has not yet registered its device key. */
const linkingBrowser = (sender: Sender): sender is Sender & { session: LinkedSession } =>
  verifiedBrowser(sender) && linked(sender) && sender.session.devicePublicKey === null;
/** On the relay: the phone, or a verified browser with its device key registered. */
const onRelay = (sender: Sender): sender is Sender & { session: LinkedSession } =>
  linked(sender) && (sender.attachment.role === "phone" || (verifiedBrowser(sender) && sender.session.devicePublicKey !== null));

export const ROUTES: Routes = {
  key_mismatch: {
    allowed: linkingBrowser,
    run: ({ lifecycle }) => lifecycle.end("key_mismatch"),
  },
  link_ack: {
    allowed: linkingBrowser,
    run: ({ parts, relay }, { ws, session }, message) => {
      parts.store.registerDeviceKey(message.devicePublicKey);
      relay.start(ws, { ...session, devicePublicKey: message.devicePublicKey }, "browser");
    },
  },
  resume: {
    allowed: (sender): sender is Sender & { session: LinkedSession } =>
      linked(sender) && sender.attachment.role === "browser" && !sender.attachment.verified && sender.attachment.nonce !== undefined,
    run: resume,
  },
  logout: {
    allowed: (sender): sender is Sender & { session: LinkedSession } => onRelay(sender) && sender.attachment.role === "browser",
    run: ({ lifecycle }) => lifecycle.end("logged_out"),
  },
  frame: {
    allowed: onRelay,
    run: ({ relay }, { ws, session, attachment, text }, message) => relay.frame(ws, session, attachment.role, { seq: message.seq, data: message.data }, text),
    otherwise: "not_ready",
  },
  ack: {
    allowed: onRelay,
    run: ({ relay }, { attachment }, message) => relay.ack(attachment.role, message.seq),
  },
  presence_check: {
    allowed: (sender): sender is Sender & { session: LinkedSession } => onRelay(sender) && sender.attachment.role === "browser",
    run: ({ lifecycle, relay }, { ws }) => {
      // A phone found silent now is announced to every browser, the asker included.
      if (!lifecycle.closeSilentSockets(Date.now())) send(ws, { type: "presence", phone: relay.presence() });
    },
  },
  code_request: {
    // A code session's browser; a second request is answered by code.ts, which refuses it.
    allowed: (sender): sender is Sender => verifiedBrowser(sender) && sender.session.code !== undefined,
    run: ({ code }, { ws, session }, message) => code.request(ws, session, message),
  },
  code_verdict: {
    allowed: (sender): sender is Sender => verifiedBrowser(sender) && sender.session.code !== undefined && (sender.session.state === "pending" || sender.session.state === "scanned"),
    run: ({ code }, _sender, message) => code.verdict(message.match),
  },
};

export async function dispatch(handlers: Handlers, sender: Sender, message: ClientMessage): Promise<void> {
  const route = ROUTES[message.type] as Route<typeof message.type, Session>;
  const { ws } = sender;
  if (route.allowed(sender)) return route.run(handlers, sender, message as never);
  if (route.otherwise === "not_ready") return send(ws, { type: "error", code: "not_ready", message: "the relay is not open on this socket yet" });
  close(ws, CLOSE_CODES.bad_message, `${message.type} is not expected now`);
}

/** A reloaded browser signed its challenge: it replaces any older tab, and the relay starts. */
async function resume({ parts, relay, lifecycle }: Handlers, { ws, session, attachment }: Sender & { session: LinkedSession }, message: MessageOf<"resume">): Promise<void> {
  const nonce = attachment.role === "browser" ? attachment.nonce : undefined;
  const key = session.devicePublicKey ? await importIdentityPublicKey(session.devicePublicKey) : null;
  if (!nonce || !key || !(await verifyResume(key, session.sessionId, nonce, message.signature))) {
    return close(ws, CLOSE_CODES.resume_refused, "the resume signature does not verify");
  }
  for (const other of parts.sockets.of("browser")) if (other !== ws) close(other, CLOSE_CODES.replaced, "replaced by a newer connection");
  const now = Date.now();
  attach(ws, { role: "browser", verified: true, connectedAt: now });
  relay.start(ws, session, "browser");
  await lifecycle.rearm();
  await lifecycle.browserActive(now);
}
