// What an idle link costs: a linked session whose phone and browser only send
// heartbeats (answered by the runtime, which does not wake the object) runs
// no alarm and writes none, hour after hour, and still ends after 30 days.
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { CLOSE_CODES, HEARTBEAT } from "../../src/shared/protocol";
import { clock, linkedPair, type TestSocket } from "./helpers";

afterEach(() => clock.stop());

const deviceIdleMs = Number(env.DEVICE_IDLE_MS);

async function heartbeat(socket: TestSocket): Promise<void> {
  const pongs = socket.raw.filter((text) => text === HEARTBEAT.response).length;
  socket.send(HEARTBEAT.request);
  await socket.until(() => socket.raw.filter((text) => text === HEARTBEAT.response).length > pongs, "the runtime's pong");
}

describe("an idle link", () => {
  it("runs no alarm and sets none for hours while its sockets only send heartbeats", async () => {
    const start = clock.start();
    const pair = await linkedPair();
    const stub = pair.browser.stub;
    const armedAt = await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm());
    // The only deadline left is the device's idleness, 30 days away.
    expect(armedAt).toBe(start + deviceIdleMs);

    const writes = { setAlarm: 0, deleteAlarm: 0 };
    await runInDurableObject(stub, (_instance, state) => {
      const { setAlarm, deleteAlarm } = { setAlarm: state.storage.setAlarm.bind(state.storage), deleteAlarm: state.storage.deleteAlarm.bind(state.storage) };
      state.storage.setAlarm = (...args: Parameters<typeof setAlarm>) => (writes.setAlarm++, setAlarm(...args));
      state.storage.deleteAlarm = (...args: Parameters<typeof deleteAlarm>) => (writes.deleteAlarm++, deleteAlarm(...args));
    });

    // Three simulated hours, a heartbeat from each side every minute; the runtime
    // would run any alarm that came due, so the test does too.
    let alarmRuns = 0;
    for (let minute = 1; minute <= 180; minute++) {
      clock.set(start + minute * 60_000);
      await Promise.all([heartbeat(pair.browser), heartbeat(pair.phoneSocket)]);
      const due = await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm());
      if (due !== null && due <= Date.now()) {
        await runDurableObjectAlarm(stub);
        alarmRuns++;
      }
    }
    console.log(`idle link, 3 simulated hours of heartbeats: ${alarmRuns} alarm runs, ${writes.setAlarm} setAlarm, ${writes.deleteAlarm} deleteAlarm`);
    expect({ alarmRuns, ...writes }).toEqual({ alarmRuns: 0, setAlarm: 0, deleteAlarm: 0 });
    expect([pair.browser.closed, pair.phoneSocket.closed]).toEqual([null, null]);

    // The 30 days still end it.
    clock.set(start + deviceIdleMs);
    await runDurableObjectAlarm(stub);
    expect(await pair.browser.waitForClose()).toMatchObject({ code: CLOSE_CODES.inactive });
  });
});
