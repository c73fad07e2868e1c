// A WebSocket upgrade refused with a close code: the upgrade completes only
// to close at once, because a client can read a close code and cannot read
// why an upgrade failed. Used by the Worker and by the session alike.

export function refusedUpgrade(code: number, reason: string, subprotocol?: string): Response {
  const { 0: client, 1: server } = new WebSocketPair();
  server.accept();
  server.close(code, reason);
  const headers = subprotocol ? { "sec-websocket-protocol": subprotocol } : undefined;
  return new Response(null, { status: 101, webSocket: client, headers });
}
