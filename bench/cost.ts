// What QR Link costs on Cloudflare, from what the counted app counted
// (bench/peers/qr-link-counted.js): requests, incoming WebSocket messages,
// alarm invocations, rows written and read (every setAlarm counted as one more
// row written), with the published prices below. Marginal prices: the monthly
// allowances of the Workers Paid plan are left out.

/** Cloudflare's published prices, USD, Workers Paid plan. */
export const PRICES = {
  /** Workers, Standard usage model: requests, $0.30 per million (developers.cloudflare.com/workers/platform/pricing). */
  workerRequestsPerMillion: 0.3,
  /** Workers, Standard usage model: CPU time, $0.02 per million CPU milliseconds (same page). */
  workerCpuMsPerMillion: 0.02,
  /**
   * Durable Objects compute: requests, $0.15 per million; HTTP requests, each
   * RPC method call, WebSocket messages and alarm invocations all count
   * (developers.cloudflare.com/durable-objects/platform/pricing).
   */
  doRequestsPerMillion: 0.15,
  /** Durable Objects: incoming WebSocket messages are billed as requests at 20:1; outgoing ones and protocol pings are free (same page, footnote 2). */
  wsMessagesPerRequest: 20,
  /** Durable Objects compute: duration, $12.50 per million GB-s, wall-clock while active and not hibernatable (same page). */
  doGbSecondsPerMillion: 12.5,
  /** Duration is charged for the 128 MB an object is allocated, whatever it uses (same page, footnote 5). */
  doMemoryGb: 0.128,
  /** Durable Objects, SQLite storage backend: rows read, $0.001 per million (same page, "SQLite storage backend"). */
  rowsReadPerMillion: 0.001,
  /** Durable Objects, SQLite storage backend: rows written, $1.00 per million (same page). Every setAlarm is counted as one more. */
  rowsWrittenPerMillion: 1.0,
  /** Durable Objects, SQLite storage backend: stored data, $0.20 per GB-month (same page). */
  storedGbMonth: 0.2,
};

export interface PairingCounts {
  workerRequests: number;
  doRequests: number;
  wsMessagesIn: number;
  alarms: number;
  setAlarm: number;
  rowsWritten: number;
  rowsRead: number;
  /** workerd CPU per pairing, Worker and objects together. */
  workerdCpuMs: number;
}

const perMillion = (count: number, price: number) => count * price;

/** USD per million pairings, each line shown, for a pairing linked on its first code. */
export function costPerMillionPairings(counts: PairingCounts) {
  // Duration: the objects are active at least while their code runs; workerd's CPU time is that lower bound.
  const gbSeconds = (counts.workerdCpuMs / 1000) * PRICES.doMemoryGb;
  const lines = {
    workerRequests: perMillion(counts.workerRequests, PRICES.workerRequestsPerMillion),
    workerCpu: perMillion(counts.workerdCpuMs, PRICES.workerCpuMsPerMillion),
    doRequests: perMillion(counts.doRequests + counts.alarms, PRICES.doRequestsPerMillion),
    wsMessagesIn: perMillion(counts.wsMessagesIn / PRICES.wsMessagesPerRequest, PRICES.doRequestsPerMillion),
    rowsWritten: perMillion(counts.rowsWritten + counts.setAlarm, PRICES.rowsWrittenPerMillion),
    rowsRead: perMillion(counts.rowsRead, PRICES.rowsReadPerMillion),
    duration: perMillion(gbSeconds, PRICES.doGbSecondsPerMillion),
  };
  const usd = Object.values(lines).reduce((sum, value) => sum + value, 0);
  return { usd: round(usd, 2), lines: roundAll(lines, 3), counts, floor: pairingFloor(lines) };
}

/**
 * The least a pairing can cost at these prices with the requests it makes:
 * everything but storage, plus the rows a link that survives must write (the
 * Account's device row, the session's linked state, the signed confirm's
 * replay record). Below it only by making fewer requests.
 */
export const DURABLE_LINK_ROWS = 3;

/**
 * What this design writes per pairing beyond those, each needed as it stands
 * (setAlarm counted as a row). A CREATE TABLE writes two rows of
 * `sqlite_master`, so an object per pairing that keeps SQL tables pays for
 * them on every pairing.
 */
export const DESIGN_ROWS: readonly { rows: number; why: string }[] = [
  { rows: 4, why: "the session's tables (session, relay_frame: two rows each; the schema version is a comment in their text)" },
  { rows: 1, why: "the scanned state (the phone's key committed before the browser shows its number)" },
  { rows: 1, why: "the confirming state (written before the Account is asked, so a failure half way is retried)" },
  { rows: 1, why: "the browser's device key (what a reload resumes with)" },
  { rows: 1, why: "the scan's replay record (every signed phone request is accepted once)" },
  { rows: 3, why: "three setAlarm: the QR's expiry, the confirmation deadline, the link's 30-day idle expiry" },
];

function pairingFloor(lines: { rowsWritten: number; rowsRead: number } & Record<string, number>) {
  const withoutStorage = Object.entries(lines).reduce((sum, [line, value]) => (line === "rowsWritten" || line === "rowsRead" ? sum : sum + value), 0);
  return {
    requestsUsd: round(lines.workerRequests! + lines.doRequests! + lines.wsMessagesIn!, 2),
    withoutStorageUsd: round(withoutStorage, 2),
    usd: round(withoutStorage + perMillion(DURABLE_LINK_ROWS, PRICES.rowsWrittenPerMillion), 2),
    /** The floor with what this design writes on top (DESIGN_ROWS). */
    designUsd: round(withoutStorage + perMillion(DURABLE_LINK_ROWS + DESIGN_ROWS.reduce((sum, item) => sum + item.rows, 0), PRICES.rowsWrittenPerMillion), 2),
  };
}

/** USD per million relayed frames: the incoming messages (the frame and its share of acks) and the rows the relay writes for them. */
export function costPerMillionFrames(counts: { rowsWrittenPerFrame: number; wsMessagesInPerFrame: number }) {
  const lines = {
    wsMessagesIn: perMillion(counts.wsMessagesInPerFrame / PRICES.wsMessagesPerRequest, PRICES.doRequestsPerMillion),
    rowsWritten: perMillion(counts.rowsWrittenPerFrame, PRICES.rowsWrittenPerMillion),
  };
  return { usd: round(lines.wsMessagesIn + lines.rowsWritten, 3), lines: roundAll(lines, 3), counts };
}

export interface IdleCounts {
  alarmsPerHour: number;
  setAlarmPerHour: number;
  rowsWrittenPerHour: number;
  requestsPerHour: number;
  wsMessagesInPerHour: number;
  /** Text "ping" heartbeats the two sockets send per hour (answered by the runtime without waking the object). */
  heartbeatsPerHour: number;
  workerdCpuMsPerAlarm: number;
  databaseBytes: number;
}

/**
 * USD per linked device per day, idle (both sockets open, heartbeats only).
 * Whether the runtime-answered text heartbeats are billed as incoming
 * WebSocket messages is not stated in the pricing page (only WebSocket
 * protocol pings are said to be free), so both are given; `usd` counts them.
 */
export function costPerLinkedDeviceDay(idle: IdleCounts) {
  const perDay = (hourly: number) => hourly * 24;
  const alarmsPerDay = perDay(idle.alarmsPerHour);
  const gbSeconds = (alarmsPerDay * idle.workerdCpuMsPerAlarm) / 1000 * PRICES.doMemoryGb;
  const lines = {
    alarmRequests: perMillion(alarmsPerDay + perDay(idle.requestsPerHour), PRICES.doRequestsPerMillion) / 1e6,
    rowsWritten: perMillion(perDay(idle.rowsWrittenPerHour + idle.setAlarmPerHour), PRICES.rowsWrittenPerMillion) / 1e6,
    heartbeats: perMillion(perDay(idle.heartbeatsPerHour + idle.wsMessagesInPerHour) / PRICES.wsMessagesPerRequest, PRICES.doRequestsPerMillion) / 1e6,
    duration: perMillion(gbSeconds, PRICES.doGbSecondsPerMillion) / 1e6,
    storage: ((idle.databaseBytes / 1e9) * PRICES.storedGbMonth) / 30,
  };
  const usd = Object.values(lines).reduce((sum, value) => sum + value, 0);
  return {
    usd: Number(usd.toPrecision(3)),
    usdIfHeartbeatsFree: Number((usd - lines.heartbeats).toPrecision(3)),
    usdPerMillionDeviceDays: round(usd * 1e6, 2),
    lines: Object.fromEntries(Object.entries(lines).map(([key, value]) => [key, Number(value.toPrecision(3))])),
    perDay: { alarms: round(alarmsPerDay, 0), rowsWritten: round(perDay(idle.rowsWrittenPerHour + idle.setAlarmPerHour), 0), heartbeats: round(perDay(idle.heartbeatsPerHour), 0) },
  };
}

function round(value: number, digits: number): number {
  return Number(value.toFixed(digits));
}

function roundAll(values: Record<string, number>, digits: number): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, round(value, digits)]));
}
