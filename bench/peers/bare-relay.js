// Peer (a): the least a relay on Durable Objects can be. One hibernatable
// Durable Object per room holds the two sockets (tagged by role) and forwards
// every message, verbatim, to the other one. No storage, no parsing, no
// checks: what QR Link's relay costs beyond this is its own work.
//
// Plain JavaScript so that the Node typecheck of bench/ (tsconfig.node.json)
// does not see Worker code; bundled by wrangler like QR Link (bench/servers.ts).
import { DurableObject } from "cloudflare:workers";

export class BareRelay extends DurableObject {
  /** @param {Request} request */
  async fetch(request) {
    if (request.headers.get("upgrade") !== "websocket") return new Response("expected a WebSocket upgrade", { status: 426 });
    const role = new URL(request.url).searchParams.get("role") === "phone" ? "phone" : "browser";
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server, [role]);
    return new Response(null, { status: 101, webSocket: client });
  }

  /** @param {WebSocket} ws @param {string | ArrayBuffer} message */
  webSocketMessage(ws, message) {
    const [role] = this.ctx.getTags(ws);
    for (const other of this.ctx.getWebSockets(role === "phone" ? "browser" : "phone")) other.send(message);
  }

  /** @param {WebSocket} ws @param {number} code @param {string} reason */
  webSocketClose(ws, code, reason) {
    ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
  }
}

export default {
  /** GET /relay/<room>?role=phone|browser: the room's object takes the socket. */
  fetch(request, env) {
    const room = /^\/relay\/([\w-]{1,64})$/.exec(new URL(request.url).pathname)?.[1];
    if (!room) return new Response("not found", { status: 404 });
    return env.BARE_RELAY.getByName(room).fetch(request);
  },
};
