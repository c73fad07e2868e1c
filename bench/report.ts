// bench/README.md, written from one run's results.
/* eslint-disable @typescript-eslint/no-explicit-any */
import { DESIGN_ROWS, DURABLE_LINK_ROWS } from "./cost";

const fmt = (value: unknown, digits = 2): string => {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  if (!Number.isFinite(value)) return "–";
  return Math.abs(value) >= 100 ? Math.round(value).toLocaleString("en-US") : String(Number(value.toFixed(digits)));
};
const x = (value: unknown) => (typeof value === "number" && Number.isFinite(value) ? `${fmt(value)}×` : "–");
const usd = (value: number) =>
  value >= 100 ? `$${Math.round(value).toLocaleString("en-US")}` : value >= 0.1 ? `$${value.toFixed(2)}` : value === 0 ? "$0" : `$${value.toPrecision(3)}`;
const capital = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/** Issue 15's figures beside their goals; nothing for results from before the history part. */
function historySection(h: any): string {
  if (!h) return "";
  const met = (key: string) => (h.met[key] ? "yes" : "**no**");
  const row = (label: string, key: string, unit: string) =>
    `| ${label} | \`history.${key}\` | under ${fmt(h.goals[key])} ${unit} | ${fmt(h[key].p50)} | ${fmt(h[key].p99)} | ${h[key].runs.map((run: number) => fmt(run)).join(", ")} | ${met(key)} |`;
  const scroll = h.scrollBack1000Ms;
  const catchUp = h.catchUp1000ChangesMs;
  return `## History at scale (issue 15): a phone with ${fmt(h.phone.chats)} chats and ${fmt(h.phone.messages)} messages, in Chromium

The simulated phone with the ${h.phone.history} history (phone-core over the CLI's file store, in the bench process, doing what
\`npm run phone -- link\` and \`online\` do) links the real page in headless Chromium (Debian's, through playwright-core), served
with its assets by a QR Link runtime of its own (wrangler.toml's \`[assets]\`, the Worker first on \`/api/*\`). Each time ends
in the page, when what the user waits for is in the DOM (a MutationObserver notes the moment). The simulator makes its history
on first use (${fmt(h.phone.historyGenerationMs)} ms here), before any time starts: a real phone has it. A goal is met when the
slowest run (p99) is under it.

| | key | goal | p50 | p99 | runs | met |
|---|---|---|---|---|---|---|
${row("confirm → chat list drawn", "confirmToChatListMs", "ms")}
${row("opening a chat → its latest messages shown", "openChatMs", "ms")}
${row("scrolling back 1,000 messages", "scrollBack1000Ms", "ms")}
${row(`a tab away while ${fmt(catchUp.changes)} changes happened → current`, "catchUp1000ChangesMs", "ms")}
| the linked tab's JS heap (MB) | \`history.heapMb\` | under ${fmt(h.goals.heapMb)} MB | ${fmt(h.heapMb, 1)} | | | ${met("heapMb")} |

- **Confirm → chat list**: from the phone sending its confirm (the user typed the number) to the list's rows drawn with all
  ${fmt(h.phone.chats)} chats counted: the confirm, the phone's relay socket, the page's \`sync_request\`, the snapshot (the chat
  list, the latest messages of the most recent chats), the page's IndexedDB writes and drawing. One new browser per run.
- **Opening a chat**: a click on a chat among the list's first rows whose messages the snapshot did not carry, to ${h.openChatMs.screenful}
  messages shown: a \`history_request\` to the phone and back, kept in IndexedDB, drawn.
- **Scrolling back**: the longest chat (${fmt(h.phone.longestChat)} messages) held at its top as a reader scrolling back does, each run
  ${fmt(1000)} messages further back, ${scroll.requests.join(", ")} requests to the phone per run; ${fmt(scroll.shownAtEnd)} messages shown at the end.
- **Catching up**: the tab is closed, the phone logs ${fmt(catchUp.changes)} changes (contacts writing in chats all over the list,
  ${fmt(catchUp.phoneChangesPerSecond)} a second on the phone), then a new tab opens: from its navigation to the last change's message
  in the list (changes apply in order, so every one before it is applied): page load, IndexedDB, resume, the frames the phone
  pushed before it stopped for the absent tab, and its answer to the sync (${catchUp.framesReceived.join(", ")} frames received).
- **Heap**: CDP \`Runtime.getHeapUsage\` in the linked tab after the scrolling back (${fmt(h.heap.afterScrollBackMb, 1)} MB,
  ${fmt(h.heap.afterScrollBackGcMb, 1)} MB after a collection) and in the tab that caught up (${fmt(h.heap.afterCatchUpMb, 1)} MB,
  ${fmt(h.heap.afterCatchUpGcMb, 1)} MB); the larger is the figure.

`;
}

export function readme(r: any, file: string, plan: any): string {
  const m = r.machine;
  const relay = r.relay;
  const rows: [string, any][] = [
    ["QR Link, databases on tmpfs", relay.qrLink],
    ["QR Link, databases on disk", relay.qrLinkDisk],
    ["bare hibernatable DO relay", relay.peers.bareDurableObject],
    ["partyserver room", relay.peers.partyserver],
    ["Node `ws` relay (floor)", relay.nodeWsFloor],
  ];
  const relayTable = rows
    .map(
      ([name, s]) =>
        `| ${name} | ${fmt(s.msgPerSec)} | ${fmt(s.p50Ms, 3)} / ${fmt(s.p99Ms, 3)} | ${fmt(s.workerdCpuUsPerFrame ?? s.serverCpuUsPerFrame, 1)}${s.workerdCpuUsPerFrame === undefined ? " (its process)" : ""} | ${fmt(s.floodP50Ms)} / ${fmt(s.floodP99Ms)} | ${fmt(s.clientCpuUsPerFrame, 1)} |`,
    )
    .join("\n");
  const ratios = relay.ratios;
  const ratioRows = [
    ["throughput (msg/s)", "msgPerSec"],
    ["latency p50", "p50Ms"],
    ["latency p99", "p99Ms"],
    ["workerd CPU per frame", "workerdCpuUsPerFrame"],
  ]
    .map(([label, key]) => `| ${label} | ${x(ratios.qrLinkOverBareDurableObject[key!])} | ${x(ratios.qrLinkOverPartyserver[key!])} |`)
    .join("\n");
  const agg = relay.qrLink100Sessions;
  const c = r.clientCrypto;
  const fs = r.storage.fsync;
  const idle = r.idleLink;
  const ab = r.abandonedCode;
  const p = r.pending;
  const pendingRows = p.levels
    .map(
      (l: any) =>
        `| ${fmt(l.sessions)} | ${fmt(l.rssMiB, 1)} | ${fmt(l.kibPerSession, 1)} | ${fmt(l.databaseKibPerSession, 1)} | ${fmt(l.workerdCores)} | ${fmt(l.workerdOpenFiles)} | ${l.databasesOpen === undefined ? "–" : fmt(l.databasesOpen)} | ${fmt(l.lateness.p50Ms)} | ${fmt(l.lateness.p99Ms)} | ${fmt(l.lateness.maxMs)} | ${fmt(l.lateness.rotations)} | ${l.held ? "yes" : "no"} |`,
    )
    .join("\n");
  const pair = r.pairing;
  const dec = pair.decomposition;
  const decRow = (name: string, d: any) =>
    `| ${name} | ${fmt(d.confirmToLinkedP50Ms)} | ${fmt(d.parts.signatureCheckMs, 3)} | ${fmt(d.parts.replayRowMs, 3)} | ${fmt(d.parts.objectCallsMs, 3)} | ${fmt(d.parts.writesMs, 3)} | ${fmt(d.parts.httpRoundTripMs, 3)} | ${fmt(d.restMs, 3)} | ${fmt(d.workerdCpuMsPerConfirm)} |`;
  const cost = r.cost;
  const pc = cost.pairing.countedPerPairing;
  const pl = cost.pairing.lines;
  const dl = cost.linkedDeviceDay;
  const prices = cost.prices;
  const schedule = p.schedule.scale === 1 ? "the real schedule" : `a schedule ${p.schedule.scale}× faster than the real one (quick mode)`;

  return `# Benchmarks

\`npm run bench\` (full: pending sessions up to 10,000 on the real schedule, 5 to 7 minutes, stopped at 14) or
\`npm run bench -- --quick\` (under a minute: small counts and a faster schedule, the same keys); set
\`CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_SEND_METRICS=false\`. Each run writes bench/results/<time>.json, and a full run this file;
\`npm run bench -- --readme bench/results/<file>.json\` rewrites this file from a results file, and \`npm run bench -- --relay [--quick]\` runs section 1 alone (QR Link on tmpfs and the two peers) and prints it. This run took ${r.durationS} s.
Every figure below is from \`${file}\` (${r.mode} mode, ${r.when}, source ${r.source.commit}${r.source.uncommitted ? ` with ${r.source.uncommitted} uncommitted files under src/ and wrangler.toml` : ""}).

Machine: ${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB, Node ${m.node}, workerd ${m.workerd}, Miniflare ${m.miniflare}, wrangler ${m.wrangler}, partyserver ${m.partyserver}, open files ${m.openFiles}.
Load average before / after: ${m.loadAverage.before.join(", ")} / ${m.loadAverage.after.join(", ")}. The cores are shared with
other engineers' test runs, so read the ratios between figures of one run, not absolute numbers across runs.

## Summary (the keys of the results file)

| key | value |
|---|---|
| \`relay.qrLink\` | ${fmt(relay.qrLink.msgPerSec)} msg/s, p50 ${fmt(relay.qrLink.p50Ms, 3)} ms, p99 ${fmt(relay.qrLink.p99Ms, 3)} ms, ${fmt(relay.qrLink.workerdCpuUsPerFrame, 1)} µs workerd CPU per frame |
| \`relay.peers.bareDurableObject\` | ${fmt(relay.peers.bareDurableObject.msgPerSec)} msg/s, p50 ${fmt(relay.peers.bareDurableObject.p50Ms, 3)} ms, p99 ${fmt(relay.peers.bareDurableObject.p99Ms, 3)} ms, ${fmt(relay.peers.bareDurableObject.workerdCpuUsPerFrame, 1)} µs |
| \`relay.peers.partyserver\` | ${fmt(relay.peers.partyserver.msgPerSec)} msg/s, p50 ${fmt(relay.peers.partyserver.p50Ms, 3)} ms, p99 ${fmt(relay.peers.partyserver.p99Ms, 3)} ms, ${fmt(relay.peers.partyserver.workerdCpuUsPerFrame, 1)} µs |
| QR Link ÷ bare DO, ÷ partyserver | msg/s ${x(ratios.qrLinkOverBareDurableObject.msgPerSec)}, ${x(ratios.qrLinkOverPartyserver.msgPerSec)}; CPU per frame ${x(ratios.qrLinkOverBareDurableObject.workerdCpuUsPerFrame)}, ${x(ratios.qrLinkOverPartyserver.workerdCpuUsPerFrame)} |
| \`relay.qrLink100Sessions\` | ${fmt(relay.qrLink100Sessions.msgPerSec)} msg/s over ${relay.qrLink100Sessions.sessions} sessions, ${fmt(relay.qrLink100Sessions.workerdCpuUsPerFrame, 1)} µs per frame |
| \`clientCrypto\` | seal ${fmt(r.clientCrypto.sealUsPerFrame, 1)} µs, open ${fmt(r.clientCrypto.openUsPerFrame, 1)} µs per ${r.clientCrypto.frameBytes} B frame |
${r.history ? `| \`history\` | confirm → chat list p50 ${fmt(r.history.confirmToChatListMs.p50)} ms, open a chat ${fmt(r.history.openChatMs.p50)} ms, scroll back 1,000 ${fmt(r.history.scrollBack1000Ms.p50)} ms, catch up ${fmt(r.history.catchUp1000ChangesMs.p50)} ms, heap ${fmt(r.history.heapMb, 1)} MB |\n` : ""}| \`idleLink.alarmsPerHour\` | ${fmt(r.idleLink.alarmsPerHour)} |
| \`pending.ceiling\`, \`pending.kibPerSession\` | ${fmt(r.pending.ceiling)} sessions, ${fmt(r.pending.kibPerSession, 1)} KiB |
| \`pairing.p99MsAt100\` | ${fmt(r.pairing.p99MsAt100)} ms |
| \`cost.perMillionPairings\` | ${usd(r.cost.perMillionPairings)} |
| \`cost.perLinkedDeviceDay\` | ${usd(r.cost.perLinkedDeviceDay)} (${usd(r.cost.linkedDeviceDay.usdPerMillionDeviceDays)} per million device-days) |

## How it runs

Every server is a Worker bundled by \`wrangler deploy --dry-run\` and started in a workerd process of its own
through the Miniflare API (bench/servers.ts), with the project's compatibility date and flags, on 127.0.0.1:

- **QR Link**: src/worker/index.ts, wrangler.toml's \`[vars]\`; the request rate limits and the per-socket
  message allowance are lifted (every bench client is 127.0.0.1), the bindings are still called. Started twice:
  databases on tmpfs and on disk.
- **bare hibernatable DO relay** (bench/peers/bare-relay.js): one Durable Object per room,
  \`ctx.acceptWebSocket\` with a role tag, \`webSocketMessage\` forwards the message verbatim to the other socket.
  Nothing stored, nothing parsed.
- **partyserver room** (bench/peers/partyserver-relay.js): \`Server\` from \`partyserver\` with
  \`static options = { hibernate: true }\`, \`onMessage\` broadcasts to the room's other connection,
  \`routePartykitRequest\` routes \`/parties/relay-room/<room>\`.
- **QR Link with counters** (bench/peers/qr-link-counted.js): the same classes, each entry point wrapped to
  count Worker and Durable Object requests, incoming WebSocket messages, alarm invocations, \`setAlarm\` calls
  and the \`rowsWritten\`/\`rowsRead\` of every SQL cursor, per class and per object. Nothing in src/ changes.
  It serves the alarm, cost and decomposition figures and is never timed against the peers.
- **Node \`ws\` relay** (bench/baseline-relay.ts), the floor: in a child process, so its CPU is its own.

workerd CPU is read from /proc (the sum of the process's threads' \`schedstat\` run time) before and after a
run, divided by the frames; the workerd process is the one Miniflare started, found among this process's
children.

### Where the databases live

| | directory | filesystem | 4 KiB write + fsync p50 / p99 (µs) |
|---|---|---|---|
| tmpfs | \`${r.storage.tmpfs.path}\` | ${r.storage.tmpfs.filesystem} | ${fmt(fs.tmpfs.fsyncP50Us)} / ${fmt(fs.tmpfs.fsyncP99Us)} |
| disk | \`${r.storage.disk.path}\` | ${r.storage.disk.filesystem} | ${fmt(fs.disk.fsyncP50Us)} / ${fmt(fs.disk.fsyncP99Us)} |

Miniflare's persist directory (\`durableObjectsPersist\`) is set per server. Everything is on tmpfs except
"QR Link, databases on disk" and the counted app on disk, which give the local fsync cost separately: the
relay and the pairing on disk against the same on tmpfs below, and the raw fsync above (${fmt(fs.disk.fsyncP50Us)} µs
on disk against ${fmt(fs.tmpfs.fsyncP50Us)} µs on tmpfs). Cloudflare's storage replicates each commit instead; neither local
figure is its latency.

## 1. Relay: the same client load on QR Link and its peers

${capital(relay.method)}. The sender's messages are QR Link's \`frame\`s, serialized before the clock starts; the
receiver acknowledges each burst with one \`ack\` on the next tick, as RelayChannel does; QR Link answers
\`stored\` and \`delivered\`, a peer forwards the \`ack\` to the sender. Latency is from the sender's \`send\` to
the receiver's message event; throughput from the first send to the last arrival.

| server | msg/s (flood) | p50 / p99 ms (paced ${plan.relay.pacedRate}/s) | server CPU µs/frame | flood p50 / p99 ms | harness CPU µs/frame |
|---|---|---|---|---|---|
${relayTable}

| QR Link (tmpfs) ÷ | bare DO relay | partyserver |
|---|---|---|
${ratioRows}

Aggregate, ${agg.sessions} QR Link sessions at once, ${agg.framesPerSession} frames of ${agg.frameBytes} B each (${fmt(agg.frames)} frames):
**${fmt(agg.msgPerSec)} msg/s**, p50 ${fmt(agg.p50Ms)} ms, p99 ${fmt(agg.p99Ms)} ms (under flood), ${fmt(agg.workerdCpuUsPerFrame, 1)} µs workerd CPU per frame.

Client crypto (this process, one after another, ${fmt(c.frames)} frames of ${c.frameBytes} B; ${c.sealedChars} characters sealed),
not part of the relay figures above:

| | µs per frame (wall) | µs per frame (CPU) |
|---|---|---|
| seal (crypto.ts \`sealFrame\`) | ${fmt(c.sealUsPerFrame, 1)} | ${fmt(c.sealCpuUsPerFrame, 1)} |
| open (crypto.ts \`openFrame\`) | ${fmt(c.openUsPerFrame, 1)} | ${fmt(c.openCpuUsPerFrame, 1)} |
| RelayChannel \`send\` (seal, keep, transmit) | ${fmt(c.relayChannelSendUsPerFrame, 1)} | |
| RelayChannel receive (open, deliver, acknowledge) | ${fmt(c.relayChannelReceiveUsPerFrame, 1)} | |

## 2. An idle linked session: alarms

${idle.links} linked sessions whose phone and browser only send the heartbeat (every 10 s${idle.scale === 1 ? "" : `, ${idle.scale}× faster here`}),
${fmt(idle.simulatedSeconds)} s of schedule (${fmt(idle.realSeconds)} s real).

| alarms / hour | setAlarm / hour | rows written / hour (SQL) | requests / hour | messages in / hour | median gap between alarms (s) | workerd CPU per alarm (ms) | sockets closed |
|---|---|---|---|---|---|---|---|
| **${fmt(idle.alarmsPerHour)}** | ${fmt(idle.setAlarmPerHour)} | ${fmt(idle.rowsWrittenPerHour)} | ${fmt(idle.requestsPerHour)} | ${fmt(idle.wsMessagesInPerHour)} | ${fmt(idle.alarmGapP50S)} | ${fmt(idle.workerdCpuMsPerAlarm)} | ${idle.socketsClosed} |

Method: ${idle.method}. The heartbeats are answered by the runtime (\`setWebSocketAutoResponse\`) without waking
the object; the alarm is what wakes it.

An abandoned code (a QR shown until it expires unscanned, ${ab.sessions} sessions, ${ab.expired} closed as \`expired\`):
${fmt(ab.alarms)} alarm runs, ${fmt(ab.setAlarm)} setAlarm, ${fmt(ab.rowsWritten)} rows written, ${fmt(ab.rowsRead)} rows read, requests: ${fmt(ab.requests)}, deleteAll: ${fmt(ab.deleteAll)}.

## 3. Pending sessions (browser tabs showing a QR)

${capital(schedule)}: first token ${fmt(p.schedule.firstTokenMs / 1000)} s, then ${fmt(p.schedule.tokenMs / 1000)} s, ${p.schedule.tokens} tokens; heartbeat every ${fmt(p.schedule.heartbeatMs / 1000)} s. Arrivals: ${p.arrivals}.
Lateness is when a tab shows a rotated token (its window's start, or its arrival if later) against the previous token's expiry. A level is held
when every tab is open and the p99 lateness is under ${fmt(plan.pending.latenessLimitMs)} ms. workerd started at ${fmt(p.baseRssMiB, 1)} MiB.

| sessions | workerd RSS (MiB) | RSS per session (KiB) | databases per session (KiB, tmpfs) | workerd cores | workerd open files | databases open | lateness p50 (ms) | p99 | max | rotations seen | held |
|---|---|---|---|---|---|---|---|---|---|---|---|
${pendingRows}

**Ceiling: ${fmt(p.ceiling)} sessions** (${p.ceilingLimitedBy}); **${fmt(p.kibPerSession, 1)} KiB of workerd memory per pending session** at that level.${
    p.workerdErrors?.length ? ` workerd's log at the failure: \`${p.workerdErrors[0]}\`.` : ""
  } The open files are the tabs' sockets plus the databases (file, WAL, shared memory) of the objects awake at the time:
a waiting session's object wakes when it opens and when its last token expires (the tab is handed all six and switches them
itself), stays awake some 10 s each time with its database open, and a tab that is only pinging does not wake it. workerd caps
SQLite's heap at 512 MiB a process (src/workerd/util/sqlite.c++, \`sqlite3_hard_heap_limit64\`) and each open database holds
about 150 KiB of it, so the objects awake at once, not the sessions, are what one process runs out of. One workerd process holds
every object here; on Cloudflare they are spread over machines, so the ceiling is this one process's limit, while the
memory per session carries over.${
    p.schedule.scale === 1 ? "" : " At this speed every object rotates every second and never hibernates: memory per session is not the real schedule's (see a full run)."
  }

## 4. Pairing (the phone's confirm sent → the browser receives \`linked\`)

${pair.at100.pairings} pairings at ${pair.at100.rate}/s, every confirm prepared (scan, key agreement, MAC, request signature) before the timed part:
**p99 ${fmt(pair.p99MsAt100)} ms**, p50 ${fmt(pair.p50MsAt100)} ms, ${pair.at100.failures} failed, ${fmt(pair.at100.workerdCpuMsPerPairing)} ms workerd CPU per confirm${
    pair.diskAt100 ? `; with the databases on disk p50 ${fmt(pair.diskAt100.p50Ms)} ms, p99 ${fmt(pair.diskAt100.p99Ms)} ms` : ""
  }.

Decomposition, one confirm at a time on the counted app (${dec.tmpfs.pairings} pairings, medians). The confirm path, as counted:
${dec.tmpfs.path.objectCalls} object calls (${Object.entries(dec.tmpfs.path.byMethod)
    .map(([name, count]) => `${name} ×${count}`)
    .join(", ")}), ${dec.tmpfs.path.signatureChecks} signature check, ${dec.tmpfs.path.rowsWritten} rows written and ${dec.tmpfs.path.setAlarm} setAlarm in ${dec.tmpfs.path.commits} committing calls.
Each primitive is timed on the same runtime (POST /__bench/probe: n calls in a row from inside the Worker, timed from outside, less the
same request with none): an object-to-object call ${fmt(dec.tmpfs.primitives.objectCallMs, 3)} ms, a call that commits one row
${fmt(dec.tmpfs.primitives.writeCallMs, 3)} ms, a call that does a replay check (delete expired, look up, insert) ${fmt(dec.tmpfs.primitives.replayCallMs, 3)} ms,
a signature check (import the P-256 key, verify, SHA-256) ${fmt(dec.tmpfs.primitives.signatureCheckMs, 3)} ms, and an HTTP request that does nothing,
from Node through Miniflare's entry Worker and back, ${fmt(dec.tmpfs.primitives.httpRoundTripMs, 3)} ms. The parts below are these times the counts;
the rest is the Worker's and the objects' own code (routing, JSON and schema checks, the announcement on the browser's
socket) and waiting for the CPU, which the last column measures.

| databases | confirm → linked p50 (ms) | signature check | replay row | object calls | writes | HTTP round trip | rest | workerd CPU during it (ms) |
|---|---|---|---|---|---|---|---|---|
${decRow("tmpfs", dec.tmpfs)}
${decRow("disk", dec.disk)}

The parts are lower bounds: a call that writes may wait on more than one commit (before each call to another
object and at its end, the alarm's own write), which the counts above do not see. On disk the path takes
${fmt(dec.disk.confirmToLinkedP50Ms - dec.tmpfs.confirmToLinkedP50Ms)} ms more than on tmpfs: local durability, as much as ${fmt(
    (dec.disk.confirmToLinkedP50Ms - dec.tmpfs.confirmToLinkedP50Ms) / Math.max(0.001, dec.disk.primitives.writeCallMs - dec.disk.primitives.objectCallMs),
    1,
  )} of the probe's committed writes (${fmt(dec.disk.primitives.writeCallMs - dec.disk.primitives.objectCallMs, 3)} ms each on disk).

${historySection(r.history)}## 5. Cost

What one pairing does, counted on the counted app over ${pc.pairings} pairings one at a time (the browser opens a
session, the phone scans and confirms, the browser acknowledges):

| Worker requests | Durable Object requests | incoming WebSocket messages | alarm runs | rows written (SQL) | setAlarm | rows read | workerd CPU (ms) |
|---|---|---|---|---|---|---|---|
| ${fmt(pc.workerRequests)} | ${fmt(pc.doRequests)} | ${fmt(pc.wsMessagesIn)} | ${fmt(pc.alarms)} | ${fmt(pc.rowsWritten)} | ${fmt(pc.setAlarm)} | ${fmt(pc.rowsRead)} | ${fmt(pc.workerdCpuMs)} |

Requests by method: ${Object.entries(pc.doRequestsByMethod)
    .map(([name, count]) => `${name} ${fmt(count)}`)
    .join(", ")}. Rows written by entry point, as each SQL statement's \`rowsWritten\` reports them (a CREATE TABLE writes two): ${Object.entries(pc.rowsWrittenByEntry)
    .map(([name, count]) => `${name} ${fmt(count)}`)
    .join(", ")} (the scan creates the session's tables; a QR waiting for its scan has none). Every setAlarm is priced as one more row written.

| per million pairings | Worker requests | Worker CPU | DO requests and alarms | WebSocket messages in | rows written | rows read | duration | **total** |
|---|---|---|---|---|---|---|---|---|
| USD | ${usd(pl.workerRequests)} | ${usd(pl.workerCpu)} | ${usd(pl.doRequests)} | ${usd(pl.wsMessagesIn)} | ${usd(pl.rowsWritten)} | ${usd(pl.rowsRead)} | ${usd(pl.duration)} | **${usd(cost.perMillionPairings)}** |
${
    cost.pairing.floor
      ? `\nThe floor at these prices: the requests alone are ${usd(cost.pairing.floor.requestsUsd)} per million pairings, everything but storage ${usd(cost.pairing.floor.withoutStorageUsd)}; ` +
        `a link that survives writes at least ${DURABLE_LINK_ROWS} rows (the Account's device row, the session's linked state, the signed confirm's replay record), so no pairing with these requests costs less than ${usd(cost.pairing.floor.usd)}. ` +
        `This design writes, on top: ${DESIGN_ROWS.map((item) => `${item.why}, ${item.rows}`).join("; ")}` +
        (cost.pairing.floor.designUsd === undefined ? "" : `: ${usd(cost.pairing.floor.designUsd)} with those.`) +
        designCheck(pc.rowsWritten + pc.setAlarm) +
        "\n"
      : ""
  }
Per linked device per day, idle (from section 2): ${fmt(dl.perDay.alarms)} alarm runs, ${fmt(dl.perDay.rowsWritten)} rows written, ${fmt(dl.perDay.heartbeats)} heartbeats.

| per linked device-day | alarm requests | rows written | heartbeats (if billed) | duration | storage | **total** | without heartbeats |
|---|---|---|---|---|---|---|---|
| USD | ${usd(dl.lines.alarmRequests)} | ${usd(dl.lines.rowsWritten)} | ${usd(dl.lines.heartbeats)} | ${usd(dl.lines.duration)} | ${usd(dl.lines.storage)} | **${usd(cost.perLinkedDeviceDay)}** | ${usd(dl.usdIfHeartbeatsFree)} |

That is ${usd(dl.usdPerMillionDeviceDays)} per million linked device-days. An abandoned code costs ${usd(cost.perMillionAbandonedCodes)} per million.${relayedFrameLine(cost.relayedFrame)}

Prices (constants in bench/cost.ts, each with the page it is from): Worker requests $${prices.workerRequestsPerMillion}/M, Worker CPU
$${prices.workerCpuMsPerMillion}/M ms, Durable Object requests $${prices.doRequestsPerMillion}/M (RPC calls, alarms; incoming WebSocket messages
at ${prices.wsMessagesPerRequest}:1), duration $${prices.doGbSecondsPerMillion}/M GB-s at ${prices.doMemoryGb * 1000} MB, rows written $${prices.rowsWrittenPerMillion}/M,
rows read $${prices.rowsReadPerMillion}/M, stored data $${prices.storedGbMonth}/GB-month. Marginal prices: the plan's monthly allowances are
left out. Duration is charged while an object runs code (hibernatable idle time is free); workerd's CPU time stands in for it
(a lower bound). Whether text heartbeats answered by \`setWebSocketAutoResponse\` are billed is not stated (only WebSocket
protocol pings are said to be free), so the device-day total counts them and the last column does not.
${r.media ? mediaSection(r.media) : ""}`;
}

/** Photos and files: the 10 MiB photo end to end, its steps, and workerd's memory by file size. */
function mediaSection(m: any): string {
  const st = m.steps;
  const sizes = m.workerdMemory.map((row: any) => `| ${row.sizeMiB} | ${fmt(row.before, 1)} | ${fmt(row.uploadGrowth, 1)} | ${fmt(row.downloadGrowth, 1)} | ${fmt(row.uploadMs)} | ${fmt(row.downloadMs)} |`).join("\n");
  return `
## 6. Photos and files (\`media\`)

${capital(m.method)}.

A ${m.photoMiB} MiB photo, browser to phone: **${fmt(m.totalMs)} ms** (upload ${fmt(m.uploadMs)} ms, download ${fmt(m.downloadMs)} ms; runs ${m.totalsMs.map((t: number) => fmt(t)).join(", ")} ms).

| step | ms |
|---|---|
| seal (all chunks, alone) | ${fmt(st.encryptMs, 1)} |
| SHA-256 (alone) | ${fmt(st.hashMs, 1)} |
| open (all chunks, alone) | ${fmt(st.decryptMs, 1)} |
| create the upload (request) | ${fmt(st.createMs, 1)} |
| part uploads to R2 (requests, summed) | ${fmt(st.putPartMs, 1)} |
| complete (request) | ${fmt(st.completeMs, 1)} |
| download, to its response headers | ${fmt(st.downloadResponseMs, 1)} |

workerd's resident memory by file size (MiB; growth over the level before each transfer):

| file MiB | before | growth, upload | growth, download | upload ms | download ms |
|---|---|---|---|---|---|
${sizes}

The download's growth is Miniflare's R2 simulator (in the same process), which joins a multipart object's parts
through a JavaScript stream that does not wait for its reader; a single-part object read as slowly queues nothing.
The Worker hands R2's body on, and streams each upload part into R2 through a FixedLengthStream.
`;
}

/** Whether the hand-kept list of what a pairing writes still adds up to what was measured. */
function designCheck(measuredRows: number): string {
  const listed = DURABLE_LINK_ROWS + DESIGN_ROWS.reduce((sum, item) => sum + item.rows, 0);
  return listed === measuredRows
    ? ` Together ${listed} rows, as measured (rows written and setAlarm).`
    : ` **The list adds up to ${listed} rows but a pairing was measured writing ${measuredRows}: bench/cost.ts DESIGN_ROWS is out of date.**`;
}

/** The counted relay stream, when the run has it (older results do not). */
function relayedFrameLine(frame: any): string {
  if (!frame) return "";
  const c = frame.counts;
  return (
    ` A relayed 1 KiB frame, paced at ${c.ratePerSecond}/s and acknowledged as RelayChannel does: ${c.rowsWrittenPerFrame} rows written and ${c.commitsPerFrame} commits per frame ` +
    `(frames acknowledged before the relay's write are never written), ${usd(frame.usd)} per million frames.`
  );
}
