// The Connection over a scripted socket, on a fake clock: what it does on
// each kind of close, on silence, on garbage, and when asked to hurry.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Role } from "../../src/clients/connection/close-codes";
import { Connection, type ConnectionEvents } from "../../src/clients/connection/connection";
import { REPLY_TIMEOUT_MS } from "../../src/clients/connection/heartbeat";
import { CLOSE_CODES, HEARTBEAT, type ServerMessage } from "../../src/shared/protocol";

/** A WebSocket the test plays the server for. */
class ScriptedSocket extends EventTarget {
  static opened: ScriptedSocket[] = [];
  readyState = 0;
  binaryType = "blob";
  readonly sent: string[] = [];
  closedWith: number | null = null;

  constructor(
    readonly url: string,
    readonly protocols?: string | string[],
  ) {
    super();
    ScriptedSocket.opened.push(this);
  }

  send(data: string): void {
    this.sent.push(data);
  }

  close(code = 1000): void {
    this.closedWith = code;
    this.readyState = 3;
  }

  accept(): void {
    this.readyState = 1;
    this.dispatchEvent(new Event("open"));
  }

  say(data: string): void {
    this.dispatchEvent(new MessageEvent("message", { data }));
  }

  drop(code: number): void {
    this.readyState = 3;
    this.dispatchEvent(Object.assign(new Event("close"), { code, reason: "" }));
  }
}

const latest = () => ScriptedSocket.opened.at(-1)!;

/** The server refuses `count` attempts in a row, each after its wait. */
async function refuse(count: number): Promise<void> {
  for (let attempt = 0; attempt < count; attempt++) {
    latest().drop(1006);
    await vi.advanceTimersByTimeAsync(10_000);
  }
}
const presence: ServerMessage = { type: "presence", phone: "online" };

function connect(role: Role) {
  const log: string[] = [];
  const messages: ServerMessage[] = [];
  let signed = 0;
  const events: ConnectionEvents = {
    open: () => log.push("open"),
    message: (message) => void messages.push(message),
    closed: (code) => log.push(`closed ${code}`),
    reconnecting: (delayMs) => log.push(`reconnecting ${delayMs}`),
    ended: ({ reason, notice }) => log.push(`ended ${reason}: ${notice}`),
  };
  const connection = new Connection(
    { role, target: async () => ({ url: "ws://server/relay", protocols: [`signed-${++signed}`] }), WebSocket: ScriptedSocket },
    events,
  );
  return { connection, log, messages, signatures: () => signed };
}

describe("the client connection", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    ScriptedSocket.opened = [];
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it("reconnects after a drop, waiting longer each time, with a fresh signature for every attempt", async () => {
    const { log, signatures } = connect("phone");
    await vi.advanceTimersByTimeAsync(0);
    latest().accept();
    latest().drop(1006);
    await vi.advanceTimersByTimeAsync(0);
    expect(log).toEqual(["open", "closed 1006", "reconnecting 500"]);
    await vi.advanceTimersByTimeAsync(499);
    expect(ScriptedSocket.opened).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(ScriptedSocket.opened).toHaveLength(2);
    latest().drop(1006); // refused again: the server is still down
    await vi.advanceTimersByTimeAsync(0);
    expect(log.at(-1)).toBe("reconnecting 1000");
    await vi.advanceTimersByTimeAsync(1_000);
    expect(ScriptedSocket.opened.map((socket) => socket.protocols)).toEqual([["signed-1"], ["signed-2"], ["signed-3"]]);
    expect(signatures()).toBe(3);
  });

  it("starts from the shortest wait again once the server has spoken", async () => {
    const { log } = connect("browser");
    await vi.advanceTimersByTimeAsync(0);
    await refuse(3);
    latest().accept();
    latest().say(JSON.stringify(presence));
    latest().drop(CLOSE_CODES.internal_error);
    await vi.advanceTimersByTimeAsync(0);
    expect(log.filter((entry) => entry.startsWith("reconnecting"))).toEqual(["reconnecting 500", "reconnecting 1000", "reconnecting 2000", "reconnecting 500"]);
  });

  it("stops a phone replaced by another one (4409), and never reconnects", async () => {
    const { log } = connect("phone");
    await vi.advanceTimersByTimeAsync(0);
    latest().accept();
    latest().drop(CLOSE_CODES.replaced);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(ScriptedSocket.opened).toHaveLength(1);
    expect(log).toEqual(["open", `closed ${CLOSE_CODES.replaced}`, "ended replaced: Another phone took over this link."]);
  });

  it("ends on an `ended` message, closes its side, and does not reconnect", async () => {
    const { log, messages } = connect("browser");
    await vi.advanceTimersByTimeAsync(0);
    latest().accept();
    latest().say(JSON.stringify({ type: "ended", reason: "revoked" }));
    latest().drop(CLOSE_CODES.revoked);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(log).toEqual(["open", "ended revoked: This browser was logged out from your phone."]);
    expect(messages).toEqual([]);
    expect(ScriptedSocket.opened).toHaveLength(1);
    expect(ScriptedSocket.opened[0]!.closedWith).toBe(1000);
  });

  it("drops what it cannot read, and hands on the rest in order", async () => {
    const { messages } = connect("browser");
    await vi.advanceTimersByTimeAsync(0);
    latest().accept();
    for (const garbage of ["{not json", "null", '{"type":"from_the_future"}', '{"type":"presence","phone":"maybe"}', HEARTBEAT.response, ""]) latest().say(garbage);
    latest().say(JSON.stringify(presence));
    expect(messages).toEqual([presence]);
  });

  it("treats a socket that does not answer its heartbeat as dead, and reconnects", async () => {
    const { log } = connect("phone");
    await vi.advanceTimersByTimeAsync(0);
    const silent = latest();
    silent.accept();
    await vi.advanceTimersByTimeAsync(HEARTBEAT.intervalMs);
    expect(silent.sent).toEqual([HEARTBEAT.request]);
    silent.say(HEARTBEAT.response);
    await vi.advanceTimersByTimeAsync(HEARTBEAT.intervalMs + REPLY_TIMEOUT_MS - 1);
    expect(silent.closedWith).toBeNull();
    await vi.advanceTimersByTimeAsync(1);
    expect(silent.closedWith).toBe(CLOSE_CODES.heartbeat_timeout);
    expect(log).toContain(`closed ${CLOSE_CODES.heartbeat_timeout}`);
    await vi.advanceTimersByTimeAsync(499);
    expect(ScriptedSocket.opened).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(2); // the backoff, after partysocket's own zero wait (1 ms from inside a timer)
    expect(ScriptedSocket.opened).toHaveLength(2);
  });

  it("sends nothing while down, rather than queueing it for a socket that has not resumed", async () => {
    const { connection } = connect("browser");
    await vi.advanceTimersByTimeAsync(0);
    expect(connection.send({ type: "presence_check" })).toBe(false);
    latest().accept();
    expect(connection.send({ type: "presence_check" })).toBe(true);
    expect(latest().sent).toEqual(['{"type":"presence_check"}']);
  });

  it("tries again at once when asked, during a wait or on an open socket", async () => {
    const { connection } = connect("phone");
    await vi.advanceTimersByTimeAsync(0);
    await refuse(4);
    latest().drop(1006); // now waiting 8 s
    await vi.advanceTimersByTimeAsync(0);
    connection.reconnectNow();
    await vi.advanceTimersByTimeAsync(0);
    expect(ScriptedSocket.opened).toHaveLength(6);
    latest().accept();
    connection.reconnectNow();
    await vi.advanceTimersByTimeAsync(0);
    expect(ScriptedSocket.opened).toHaveLength(7);
  });

  it("closes for good when told to, with no event after", async () => {
    const { connection, log } = connect("browser");
    await vi.advanceTimersByTimeAsync(0);
    latest().accept();
    connection.close();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(log).toEqual(["open"]);
    expect(ScriptedSocket.opened).toHaveLength(1);
  });
});
