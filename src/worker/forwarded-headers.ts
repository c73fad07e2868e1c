// Headers the Worker sets on the WebSocket upgrades it hands to a
// PairingSession: what kind of socket it is, and what the Worker checked.
/** Every header the Worker sets starts with this; a client's own are removed before forwarding. */
export const FORWARDED_PREFIX = "x-qrl-";
export const SOCKET_HEADER = "x-qrl-socket";
export const SESSION_ID_HEADER = "x-qrl-session-id";
export const DEVICE_HEADER = "x-qrl-device";
export const PHONE_NUMBER_HEADER = "x-qrl-phone-number";
/** `open_code`: a new code session (linking with a code instead of a QR scan). */
export type SocketKind = "open" | "open_code" | "resume" | "phone";
/**
 * Which address the socket came to: `session`, the session id the QR codes
 * showed (`/api/sessions/:sessionId/…`), or `link`, the object's own id handed
 * out when it linked (`/api/links/:linkId/…`). Always set by the Worker, so a
 * client cannot choose it.
 */
export const ADDRESS_HEADER = "x-qrl-address";
export type SocketAddress = "session" | "link";
