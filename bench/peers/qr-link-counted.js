// QR Link with counters, for the bench only: the Worker and the Durable
// Object classes from src/worker/index.ts, unchanged, each entry point wrapped
// to count what Cloudflare bills (Worker requests, Durable Object requests,
// incoming WebSocket messages, alarm invocations, rows written and read, and
// every setAlarm as a row written), per class and per object. Nothing in src/
// knows about it. The bench reads the counts at GET /__bench/counters, and
// times primitives (an object-to-object call, a committed write, a replay row,
// a signature check) at POST /__bench/probe, which this file alone answers.
//
// All classes and the Worker of one script share one isolate in workerd, so
// the module-level counters below see every object. An entry point runs in an
// AsyncLocalStorage scope: the SQL cursors it opens are summed when it ends
// (those a timer it set opens later, after they ran), and a call an object
// makes to its own methods is not counted as a request.
//
// Plain JavaScript so that the Node typecheck of bench/ (tsconfig.node.json)
// does not see Worker code; bundled by wrangler with the project's
// wrangler.toml (bench/servers.ts).
import { AsyncLocalStorage } from "node:async_hooks";
import { DurableObject } from "cloudflare:workers";
import worker, * as qrLink from "../../src/worker/index.ts";

const scope = new AsyncLocalStorage();

function blankClass() {
  return { requests: 0, byMethod: {}, rowsWrittenByEntry: {}, wsMessagesIn: 0, wsEvents: 0, alarms: 0, setAlarm: 0, deleteAlarm: 0, deleteAll: 0, kvWrites: 0, rowsWritten: 0, rowsRead: 0, commits: 0 };
}

function blank() {
  return { workerRequests: 0, classes: {}, objects: {} };
}

let counters = blank();

function classCounts(cls) {
  return (counters.classes[cls] ??= blankClass());
}

function objectCounts(id) {
  return (counters.objects[id] ??= { ...blankClass(), databaseBytes: 0, alarmTimes: [] });
}

function both(entry, apply) {
  apply(classCounts(entry.cls));
  apply(objectCounts(entry.id));
}

// Storage calls are attributed to the entry point they run in.
let patched = false;
function patchStorage(storage) {
  if (patched) return;
  patched = true;
  const sqlProto = Object.getPrototypeOf(storage.sql);
  const exec = sqlProto.exec;
  // A cursor of several statements reports the rows of its last one only: each statement is run on its own, so every row
  // (a CREATE TABLE writes two in sqlite_master) is counted. Only text without bindings is split, and the app's has no
  // semicolon inside a literal.
  sqlProto.exec = function (query, ...bindings) {
    const parts = bindings.length === 0 ? query.split(";").filter((statement) => statement.trim() !== "") : [];
    const statements = parts.length > 1 ? parts : [query];
    let cursor;
    const entry = scope.getStore();
    for (const [index, statement] of statements.entries()) {
      cursor = exec.call(this, statement, ...bindings);
      if (index < statements.length - 1) cursor.toArray();
      if (entry?.ended) countLater(entry, cursor);
      else entry?.cursors.push(cursor);
    }
    return cursor;
  };
  const storageProto = Object.getPrototypeOf(storage);
  const wrap = (name, field) => {
    const original = storageProto[name];
    if (typeof original !== "function") return;
    storageProto[name] = function (...args) {
      const entry = scope.getStore();
      if (entry) {
        entry[field] += 1;
        both(entry, (c) => (c[field] += 1));
      }
      return original.apply(this, args);
    };
  };
  wrap("setAlarm", "setAlarm");
  wrap("deleteAlarm", "deleteAlarm");
  wrap("deleteAll", "deleteAll");
  wrap("put", "kvWrites");
  wrap("delete", "kvWrites");
}

/**
 * A statement run after its entry point returned, from a timer it set (the
 * relay's burst write): counted once the caller has read it, and its
 * statements of one turn counted as one commit, as one transaction.
 */
function countLater(entry, cursor) {
  entry.late ??= [];
  entry.late.push(cursor);
  if (entry.late.length > 1) return;
  setTimeout(() => {
    const cursors = entry.late.splice(0);
    const written = cursors.reduce((sum, late) => sum + late.rowsWritten, 0);
    const read = cursors.reduce((sum, late) => sum + late.rowsRead, 0);
    both(entry, (c) => {
      c.rowsWritten += written;
      c.rowsRead += read;
      if (written > 0) {
        c.rowsWrittenByEntry[`${entry.method} (timer)`] = (c.rowsWrittenByEntry[`${entry.method} (timer)`] ?? 0) + written;
        c.commits += 1;
      }
    });
  }, 0);
}

const KIND = { alarm: "alarm", webSocketMessage: "wsIn", webSocketClose: "wsEvent", webSocketError: "wsEvent" };

function enter(self, cls, method, run) {
  const outer = scope.getStore();
  // An object calling its own (TypeScript-private) methods: part of the entry already counted.
  if (outer && outer.self === self) return run();
  const entry = { self, cls, method, id: self.__benchId, cursors: [], setAlarm: 0, deleteAlarm: 0, deleteAll: 0, kvWrites: 0 };
  const kind = KIND[method] ?? "request";
  both(entry, (c) => {
    if (kind === "request") {
      c.requests += 1;
      c.byMethod[method] = (c.byMethod[method] ?? 0) + 1;
    } else if (kind === "alarm") c.alarms += 1;
    else if (kind === "wsIn") c.wsMessagesIn += 1;
    else c.wsEvents += 1;
  });
  if (kind === "alarm") objectCounts(entry.id).alarmTimes.push(Date.now());
  return scope.run(entry, async () => {
    try {
      return await run();
    } finally {
      entry.ended = true;
      let written = 0;
      let read = 0;
      for (const cursor of entry.cursors) {
        written += cursor.rowsWritten;
        read += cursor.rowsRead;
      }
      const committed = written > 0 || entry.setAlarm > 0 || entry.deleteAlarm > 0 || entry.deleteAll > 0 || entry.kvWrites > 0;
      both(entry, (c) => {
        c.rowsWritten += written;
        c.rowsRead += read;
        if (written > 0) c.rowsWrittenByEntry[entry.method] = (c.rowsWrittenByEntry[entry.method] ?? 0) + written;
        if (committed) c.commits += 1;
      });
      try {
        objectCounts(entry.id).databaseBytes = self.ctx.storage.sql.databaseSize;
      } catch {
        // Storage deleted.
      }
    }
  });
}

/** The class with every method of its prototype wrapped; the runtime and RPC callers see the wrappers. */
function counted(Base, cls) {
  class Counted extends Base {
    constructor(ctx, env) {
      patchStorage(ctx.storage);
      super(ctx, env);
      this.__benchId = ctx.id.toString();
    }
  }
  for (const name of Object.getOwnPropertyNames(Base.prototype)) {
    const descriptor = Object.getOwnPropertyDescriptor(Base.prototype, name);
    if (name === "constructor" || typeof descriptor?.value !== "function") continue;
    const original = descriptor.value;
    Object.defineProperty(Counted.prototype, name, {
      value: function (...args) {
        return enter(this, cls, name, () => original.apply(this, args));
      },
      writable: true,
      configurable: true,
    });
  }
  Object.defineProperty(Counted, "name", { value: cls });
  return Counted;
}

export const PairingSession = counted(qrLink.PairingSession, "PairingSession");
export const Account = counted(qrLink.Account, "Account");
/** Photos and files: not part of a pairing, exported unwrapped so the bundle has every class wrangler.toml binds. */
export const MediaBlobs = qrLink.MediaBlobs;

/** Primitives for the pairing decomposition, each on an object of its own. */
export class BenchProbe extends DurableObject {
  #ready = false;

  #schema() {
    if (this.#ready) return;
    this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS written (id INTEGER PRIMARY KEY, value TEXT NOT NULL)");
    this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS seen (hash TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID");
    this.#ready = true;
  }

  /** An object-to-object call that does nothing. */
  noop() {
    return 1;
  }

  /** A call that writes one row: its answer waits for the commit. */
  write() {
    this.#schema();
    this.ctx.storage.sql.exec("INSERT INTO written (value) VALUES (?)", "x".repeat(64));
    return 1;
  }

  /** A replay check like the signed-request one: forget expired, look up, insert. */
  replay(hash, now, expiresAt) {
    this.#schema();
    this.ctx.storage.sql.exec("DELETE FROM seen WHERE expires_at <= ?", now);
    const seen = this.ctx.storage.sql.exec("SELECT 1 FROM seen WHERE hash = ?", hash).toArray().length > 0;
    if (!seen) this.ctx.storage.sql.exec("INSERT INTO seen (hash, expires_at) VALUES (?, ?)", hash, expiresAt);
    return seen ? 0 : 1;
  }
}

const encoder = new TextEncoder();
let signing = null;

/** A P-256 key pair and one signature over a request-sized text, made once. */
async function signingMaterial() {
  if (signing) return signing;
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const raw = await crypto.subtle.exportKey("raw", pair.publicKey);
  const text = encoder.encode(["qr-link-request-v2", "127.0.0.1:8787", "+15550000000", "POST", "/api/link/confirm", String(Date.now()), "x".repeat(43)].join("\n"));
  const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, pair.privateKey, text);
  signing = { raw, text, signature };
  return signing;
}

/** Runs `n` of one primitive, one after another; the bench times the request from outside (workerd's clock stands still while code runs). */
async function probe(env, op, n) {
  const stub = env.BENCH_PROBE.getByName(`probe-${op}`);
  const material = op === "sig" ? await signingMaterial() : null;
  for (let i = 0; i < n; i++) {
    if (op === "noop") await stub.noop();
    else if (op === "write") await stub.write();
    else if (op === "replay") await stub.replay(`${crypto.randomUUID()}`, Date.now(), Date.now() + 60_000);
    else if (op === "sig") {
      // What a signed request's check does: import the registered key, verify, hash the signed text (the replay key).
      const key = await crypto.subtle.importKey("raw", material.raw, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
      if (!(await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, material.signature, material.text))) throw new Error("probe signature did not verify");
      await crypto.subtle.digest("SHA-256", material.text);
    }
  }
  return n;
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/__bench/counters") {
      const sessions = (url.searchParams.get("sessions") ?? "").split(",").filter(Boolean);
      const bySession = {};
      for (const name of sessions) bySession[name] = counters.objects[env.PAIRING_SESSION.idFromName(name).toString()] ?? null;
      const body = { workerRequests: counters.workerRequests, classes: counters.classes, sessions: bySession };
      if (url.searchParams.get("reset") === "1") counters = blank();
      return Response.json(body);
    }
    if (url.pathname === "/__bench/probe") {
      const op = url.searchParams.get("op") ?? "noop";
      const n = Number(url.searchParams.get("n") ?? "0");
      return Response.json({ op, n: await probe(env, op, n) });
    }
    counters.workerRequests += 1;
    return worker.fetch(request, env, ctx);
  },
};
