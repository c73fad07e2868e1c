import { describe, expect, it } from "vitest";
import { connectionStatus, type LinkState } from "../../src/clients/browser/connection-status";

const NOW = 1_000_000;
const state = (change: Partial<LinkState>): LinkState => ({ online: true, up: true, silent: false, retryAt: null, ...change });

describe("what a page says about its own connection", () => {
  it("says nothing while connected and online", () => {
    expect(connectionStatus(state({}), NOW)).toBeNull();
  });

  it("says 'Computer not connected' as soon as the browser is offline, even before the socket notices", () => {
    expect(connectionStatus(state({ online: false }), NOW)).toEqual({ title: "Computer not connected", detail: "Make sure this computer has an active Internet connection.", retry: false });
  });

  it("says 'Computer not connected' with a countdown and Retry now when the heartbeat replies stopped", () => {
    expect(connectionStatus(state({ up: false, silent: true, retryAt: NOW + 4_200 }), NOW)).toEqual({
      title: "Computer not connected",
      detail: "Make sure this computer has an active Internet connection. Reconnecting in 5 s…",
      retry: true,
    });
  });

  it("counts down to the next attempt while the server cannot be reached, then says it is connecting", () => {
    const outage = state({ up: false, retryAt: NOW + 8_000 });
    expect(connectionStatus(outage, NOW)).toEqual({ title: "Cannot reach QR Link", detail: "Reconnecting in 8 s…", retry: true });
    expect(connectionStatus(outage, NOW + 7_001)?.detail).toBe("Reconnecting in 1 s…");
    expect(connectionStatus(outage, NOW + 8_000)?.detail).toBe("Connecting…");
    expect(connectionStatus(state({ up: false }), NOW)?.detail).toBe("Connecting…");
  });
});
