// The WebSocket upgrades the Worker hands to a session: a new session (the
// QR screen), a browser resuming with its device key, and the phone's relay.
// Each is refused with a close code a browser can read, or accepted with the
// small attachment that says who it is.
import { randomBase64url } from "../../shared/crypto";
import { CLOSE_CODES, LIMITS, RELAY_SUBPROTOCOL, credentialsFromSubprotocols } from "../../shared/protocol";
import { ADDRESS_HEADER, DEVICE_HEADER, PHONE_NUMBER_HEADER, SESSION_ID_HEADER, SOCKET_HEADER } from "../forwarded-headers";
import { refusedUpgrade } from "../refused-upgrade";
import type { Handlers } from "./dispatch";
import type { Description, LinkedSession } from "./session";
import { close, send } from "./sockets";

/** Routes an upgrade by the kind of socket the Worker says it is. */
export function upgrade(handlers: Handlers, request: Request): Response {
  const kind = request.headers.get(SOCKET_HEADER);
  if (kind === "open") return openSession(handlers, request);
  if (kind === "open_code") return openSession(handlers, request, "code");
  if (kind === "resume") return acceptResume(handlers, request);
  if (kind === "phone") return acceptPhone(handlers, request);
  return new Response("unknown socket kind", { status: 400 });
}

/**
 * Whether a linked session's relay answers at the address this upgrade came
 * to: at its link id always; at its session id, which its QR codes showed,
 * only if it never handed out a link id (a link made before link ids existed).
 */
function answersAt(session: LinkedSession, request: Request): boolean {
  return request.headers.get(ADDRESS_HEADER) === "link" || !session.linkIdIssued;
}

/** A new session: a QR session gets its token schedule at once; a code session waits for the browser to name its number (code.ts). */
function openSession({ parts, lifecycle, code }: Handlers, request: Request, kind: "qr" | "code" = "qr"): Response {
  const sessionId = request.headers.get(SESSION_ID_HEADER);
  const device = request.headers.get(DEVICE_HEADER);
  if (!sessionId || !device || parts.store.session()) return new Response("cannot open this session", { status: 409 });
  const now = Date.now();
  const description = JSON.parse(device) as Description;
  const { socket, response } = parts.sockets.accept({ role: "browser", verified: true, connectedAt: now });
  const tokens = kind === "qr" ? lifecycle.open(socket, sessionId, description, now) : null;
  if (kind === "code") code.open(sessionId, description, now);
  send(socket, { type: "session", sessionId, createdAt: now });
  if (tokens) for (const message of lifecycle.tokenMessages(tokens)) send(socket, message);
  return response;
}

/** A reloaded browser: it gets a challenge, and nothing else until it signs it (in time) with its device key. */
function acceptResume({ parts }: Handlers, request: Request): Response {
  const session = parts.store.session();
  if (session?.state !== "linked" || !session.devicePublicKey || !answersAt(session, request)) {
    return refusedUpgrade(CLOSE_CODES.unknown_session, "no linked session to resume");
  }
  // Each role has its slots: unanswered resumes share a few, and a new one pushes out the oldest.
  parts.sockets.closeOldestUnverified(LIMITS.unansweredResumesPerSession - 1, CLOSE_CODES.too_many_sockets, "too many resumes waiting on their challenge");
  const nonce = randomBase64url(32);
  const { socket, response } = parts.sockets.accept({ role: "browser", verified: false, nonce, connectedAt: Date.now() });
  send(socket, { type: "challenge", nonce });
  return response;
}

/** The linked phone's relay socket; a newer one replaces an older one. */
function acceptPhone({ parts, relay }: Handlers, request: Request): Response {
  const { sockets } = parts;
  // A phone page signs with subprotocols; its browser needs ours echoed to open the socket.
  const subprotocol = credentialsFromSubprotocols(request.headers.get("sec-websocket-protocol") ?? undefined) ? RELAY_SUBPROTOCOL : undefined;
  const session = parts.store.session();
  if (session?.state !== "linked" || !answersAt(session, request) || session.proof.account.number !== request.headers.get(PHONE_NUMBER_HEADER)) {
    return refusedUpgrade(CLOSE_CODES.unknown_session, "this phone has no linked session here", subprotocol);
  }
  const wasOnline = relay.presence() === "online";
  for (const old of sockets.of("phone")) close(old, CLOSE_CODES.replaced, "replaced by a newer connection");
  const { socket, response } = sockets.accept({ role: "phone", connectedAt: Date.now() }, subprotocol);
  relay.start(socket, session, "phone");
  if (!wasOnline) sockets.announceTo("browser", { type: "presence", phone: "online" });
  return response;
}
