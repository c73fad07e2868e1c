// Peer (b): a room relay written the way Cloudflare's PartyKit server library
// (`partyserver`) is meant to be used: a hibernating `Server` per room whose
// `onMessage` broadcasts each message to the room's other connections, routed
// by `routePartykitRequest` (/parties/relay-room/<room>).
//
// Plain JavaScript so that the Node typecheck of bench/ (tsconfig.node.json)
// does not see Worker code; bundled by wrangler like QR Link (bench/servers.ts).
import { routePartykitRequest, Server } from "partyserver";

export class RelayRoom extends Server {
  static options = { hibernate: true };

  /** @param {import("partyserver").Connection} connection @param {string | ArrayBuffer} message */
  onMessage(connection, message) {
    this.broadcast(message, [connection.id]);
  }
}

export default {
  async fetch(request, env) {
    return (await routePartykitRequest(request, env)) ?? new Response("not found", { status: 404 });
  },
};
