// The floor: what someone would write without durability or encryption.
// A Node `ws` server that pairs a browser with a phone by room id and
// forwards messages verbatim between them. Nothing is stored or checked.
// `node --import tsx bench/baseline-relay.ts` runs it in a process of its own
// (bench/servers.ts startFloor) and prints the address it listens on.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import { WebSocketServer, type WebSocket } from "ws";

export interface Baseline {
  url: string;
  stop(): Promise<void>;
}

export async function startBaseline(): Promise<Baseline> {
  const waiting = new Map<string, WebSocket>();
  const rooms = new Map<string, { phone?: WebSocket; browser?: WebSocket }>();
  const http = createServer((request, response) => {
    // POST /confirm?room=X: the phone confirms; the browser waiting in that room is told.
    const room = new URL(request.url ?? "/", "http://baseline").searchParams.get("room") ?? "";
    request.resume();
    request.on("end", () => {
      waiting.get(room)?.send('{"type":"linked"}');
      waiting.delete(room);
      response.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  const sockets = new WebSocketServer({ server: http });
  sockets.on("connection", (socket, request) => {
    const url = new URL(request.url ?? "/", "http://baseline");
    const room = url.searchParams.get("room") ?? "";
    if (url.pathname === "/pair") {
      waiting.set(room, socket);
      return;
    }
    const role = url.searchParams.get("role") === "phone" ? "phone" : "browser";
    const peers = rooms.get(room) ?? {};
    peers[role] = socket;
    rooms.set(room, peers);
    socket.on("message", (data, isBinary) => peers[role === "phone" ? "browser" : "phone"]?.send(data, { binary: isBinary }));
    socket.on("close", () => delete peers[role]);
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    stop: () =>
      new Promise((resolve) => {
        for (const client of sockets.clients) client.terminate();
        sockets.close();
        http.close(() => resolve());
      }),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const baseline = await startBaseline();
  console.log(`baseline relay listening on ${baseline.url}`);
  process.on("SIGTERM", () => void baseline.stop().then(() => process.exit(0)));
}
