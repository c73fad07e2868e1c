// Pairing latency under load: the phone's confirmation sent -> the browser
// receives `linked`, at a fixed rate of pairings per second. Everything a
// pairing needs before that (the browser's session, the scan, the key
// agreement, the MAC, the request signature) is made before the clock starts.
import { performance } from "node:perf_hooks";
import { MAX_LINKED_DEVICES } from "../src/shared/protocol";
import { openBrowser, prepareConfirm, registeredPhones, type OpenedBrowser, type PreparedConfirm } from "./clients";
import { percentile, round, sleep } from "./relay-load";
import { cpuMicros, type Runtime } from "./servers";

async function inBatches<T>(count: number, batch: number, make: (index: number) => Promise<T>): Promise<T[]> {
  const made: T[] = [];
  for (let start = 0; start < count; start += batch) {
    made.push(...(await Promise.all(Array.from({ length: Math.min(batch, count - start) }, (_, i) => make(start + i)))));
  }
  return made;
}

export async function pairingAtRate(runtime: Runtime, rate: number, seconds: number) {
  const total = rate * seconds;
  const phones = await registeredPhones(runtime.url, Math.ceil(total / MAX_LINKED_DEVICES));
  const browsers: OpenedBrowser[] = await inBatches(total, 50, () => openBrowser(runtime.url));
  const prepared: PreparedConfirm[] = await inBatches(total, 25, (index) => prepareConfirm(runtime.url, phones[index % phones.length]!, browsers[index]!));
  await sleep(500);
  const latencies: number[] = [];
  const failures: string[] = [];
  const cpuBefore = cpuMicros(runtime.pid);
  const start = performance.now() + 100;
  await Promise.all(
    prepared.map(async (pairing, index) => {
      await sleep(start + (index * 1_000) / rate - performance.now());
      try {
        const linked = pairing.browser.socket.next("linked");
        const sentAt = performance.now();
        const response = pairing.send();
        await Promise.race([linked, sleep(10_000).then(() => Promise.reject(new Error("no linked message in 10 s")))]);
        latencies.push(performance.now() - sentAt);
        const answered = await response;
        if (!answered.ok) throw new Error(`confirm answered ${answered.status}`);
      } catch (error) {
        failures.push((error as Error).message);
      }
    }),
  );
  const cpuUs = cpuMicros(runtime.pid) - cpuBefore;
  for (const browser of browsers) browser.socket.close();
  const sorted = latencies.sort((a, b) => a - b);
  return {
    rate,
    pairings: total,
    p50Ms: round(percentile(sorted, 0.5)),
    p99Ms: round(percentile(sorted, 0.99)),
    maxMs: round(sorted.at(-1) ?? Number.NaN),
    failures: failures.length,
    firstFailure: failures[0] ?? null,
    workerdCpuMsPerPairing: round(cpuUs / 1000 / total, 2),
  };
}
