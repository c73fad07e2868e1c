// The wire protocol of QR Link: HTTP bodies, WebSocket messages, close codes,
// error codes, limits and the QR text. The Worker, the browser app and the
// phone simulator all import it from here, never from the parts, so the
// protocol keeps one entry point; docs/protocol.md describes it.
export * from "./protocol-fields";
export * from "./protocol-http";
export * from "./protocol-socket";
export * from "./protocol-app";
export * from "./protocol-qr";
export * from "./protocol-code";
export * from "./protocol-blobs";
