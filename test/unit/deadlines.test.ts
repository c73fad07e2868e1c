import { describe, expect, it } from "vitest";
import {
  deadlines,
  dueNow,
  nextAlarm,
  retryDelayMs,
  silentAt,
  type Deadline,
  type DeadlineConfig,
  type WatchedSocket,
} from "../../src/worker/pairing-session/deadlines";
import type { LinkProof, OutboxEntry, Session } from "../../src/worker/pairing-session/session";

const T0 = 1_700_000_000_000;

const config: DeadlineConfig = {
  confirmTimeoutMs: 120_000,
  deviceIdleMs: 7 * 24 * 3_600_000,
  phoneOfflineMs: 45_000,
  socketIdleMs: 90_000,
  challengeTimeoutMs: 10_000,
};

const opened = {
  sessionId: "AAAAAAAAAAAAAAAAAAAAAA",
  createdAt: T0,
  device: { browser: "Firefox 140", os: "Linux", place: "Berlin, DE", ipPrefix: "203.0.113.x" },
};
const proof: LinkProof = { account: { number: "+15550001", name: "Ada" }, phonePublicKey: "p".repeat(43), confirmation: "c".repeat(43) };

const pending: Session = {
  ...opened,
  state: "pending",
  tokens: { from: T0 + 60_000, tokens: [{ seq: 5, token: "t".repeat(22), expiresAt: T0 + 80_000 }] },
  failedScans: 0,
};
const scanned: Session = { ...opened, state: "scanned", scannedBy: "+15550001", scannedAt: T0 + 30_000, phonePublicKey: "phone-key" };
const confirming: Session = { ...opened, state: "confirming", scannedBy: "+15550001", scannedAt: T0 + 30_000, proof, addDevice: { attempts: 0, dueAt: T0 + 30_000 } };
const linked: Session = { ...opened, state: "linked", proof, devicePublicKey: null, browserActiveAt: T0 + 50_000, linkIdIssued: true };
const ended: Session = { ...opened, state: "ended", reason: "revoked", removeDevice: { accountNumber: "+15550001", attempts: 1, dueAt: T0 + 90_000 } };

const phone: WatchedSocket = { role: "phone", verified: true, connectedAt: T0 + 40_000, lastSeenAt: T0 + 70_000 };
const browser: WatchedSocket = { role: "browser", verified: true, connectedAt: T0, lastSeenAt: T0 + 60_000 };
const resuming: WatchedSocket = { role: "browser", verified: false, connectedAt: T0 + 65_000, lastSeenAt: T0 + 66_000 };

function outboxEntry(kind: OutboxEntry["kind"], dueAt: number): OutboxEntry {
  return { kind, accountNumber: "+15550001", attempts: 1, dueAt };
}

describe("silentAt", () => {
  it("a phone is silent phoneOfflineMs after it was last seen", () => {
    expect(silentAt(phone, config)).toBe(phone.lastSeenAt + config.phoneOfflineMs);
  });

  it("a phone is judged by when it was last seen, verified or not", () => {
    expect(silentAt({ ...phone, verified: false }, config)).toBe(phone.lastSeenAt + config.phoneOfflineMs);
  });

  it("a verified browser is silent socketIdleMs after it was last seen", () => {
    expect(silentAt(browser, config)).toBe(browser.lastSeenAt + config.socketIdleMs);
  });

  it("an unverified browser has challengeTimeoutMs from connecting to answer, whatever else it sends", () => {
    expect(silentAt(resuming, config)).toBe(resuming.connectedAt + config.challengeTimeoutMs);
    expect(silentAt({ ...resuming, lastSeenAt: resuming.connectedAt + 9_999 }, config)).toBe(resuming.connectedAt + config.challengeTimeoutMs);
  });
});

describe("deadlines", () => {
  it("pending: expire when the last token does", () => {
    expect(deadlines(pending, [browser], [], config)).toEqual([{ name: "expire", at: T0 + 80_000 }]);
  });

  it("pending code session: its code's expiry, and no token rotation", () => {
    const code = { number: "+15550001", browserShare: "s".repeat(43), browserPublicKey: "b".repeat(43), expiresAt: T0 + 180_000, checkedAt: null };
    expect(deadlines({ ...pending, code }, [browser], [], config)).toEqual([{ name: "code", at: T0 + 180_000 }]);
    expect(dueNow(deadlines({ ...pending, code }, [browser], [], config), T0 + 180_000)).toEqual(["code"]);
  });

  it("scanned and confirming: confirm at the scan plus the confirm timeout", () => {
    const at = T0 + 30_000 + config.confirmTimeoutMs;
    expect(deadlines(scanned, [browser, phone], [], config)).toEqual([{ name: "confirm", at }]);
    expect(deadlines(confirming, [browser, phone], [], config)).toEqual([{ name: "confirm", at }]);
  });

  it("linked: device_idle from the browser's last activity, and a challenge deadline only for a resume that has not answered", () => {
    const found = deadlines(linked, [phone, browser, resuming], [], config);
    expect(found).toEqual([
      { name: "device_idle", at: T0 + 50_000 + config.deviceIdleMs },
      { name: "challenge", at: silentAt(resuming, config) },
    ]);
  });

  it("linked with only a phone and a verified browser sending heartbeats: no deadline but the device's idleness, 30 days away", () => {
    expect(deadlines(linked, [phone, browser], [], config)).toEqual([{ name: "device_idle", at: T0 + 50_000 + config.deviceIdleMs }]);
  });

  it("linked with no sockets: only device_idle", () => {
    expect(deadlines(linked, [], [], config)).toEqual([{ name: "device_idle", at: T0 + 50_000 + config.deviceIdleMs }]);
  });

  it("watches challenges only once linked", () => {
    for (const session of [pending, scanned, confirming, ended]) {
      expect(deadlines(session, [phone, browser, resuming], [], config).some((d) => d.name === "challenge")).toBe(false);
    }
  });

  it("one outbox deadline per entry, in every state, even ended or with no session", () => {
    const outbox = [outboxEntry("add_device", T0 + 1_000), outboxEntry("remove_device", T0 + 4_000)];
    for (const session of [null, pending, scanned, confirming, linked, ended]) {
      const found = deadlines(session, [], outbox, config).filter((d) => d.name === "outbox");
      expect(found.map((d) => d.at)).toEqual([T0 + 1_000, T0 + 4_000]);
    }
  });

  it("an ended session, or none, with an empty outbox has no deadlines", () => {
    expect(deadlines(ended, [phone, browser], [], config)).toEqual([]);
    expect(deadlines(null, [phone, browser], [], config)).toEqual([]);
  });
});

describe("nextAlarm", () => {
  it("is null when there is no deadline", () => {
    expect(nextAlarm([])).toBeNull();
  });

  it("is the earliest deadline, wherever it is in the list", () => {
    const found: Deadline[] = [
      { name: "device_idle", at: T0 + 9_000 },
      { name: "challenge", at: T0 + 3_000 },
      { name: "outbox", at: T0 + 5_000 },
      { name: "challenge", at: T0 + 4_000 },
    ];
    expect(nextAlarm(found)).toBe(T0 + 3_000);
    expect(nextAlarm([...found].reverse())).toBe(T0 + 3_000);
  });

  it("for a linked session is an unanswered challenge when that comes before idleness and the outbox", () => {
    const found = deadlines(linked, [browser, phone, resuming], [outboxEntry("remove_device", T0 + 200_000)], config);
    expect(nextAlarm(found)).toBe(silentAt(resuming, config));
  });

  it("picks an outbox retry due before the rotation", () => {
    expect(nextAlarm(deadlines(pending, [], [outboxEntry("remove_device", T0 + 10_000)], config))).toBe(T0 + 10_000);
  });
});

describe("dueNow", () => {
  const found: Deadline[] = [
    { name: "device_idle", at: T0 + 1_000 },
    { name: "challenge", at: T0 + 2_000 },
    { name: "challenge", at: T0 + 1_500 },
    { name: "confirm", at: T0 + 3_000 },
    { name: "expire", at: T0 },
    { name: "outbox", at: T0 + 500 },
    { name: "outbox", at: T0 + 800 },
  ];

  it("nothing before the earliest deadline", () => {
    expect(dueNow(found, T0 - 1)).toEqual([]);
  });

  it("a deadline is due at its instant, not only after it", () => {
    expect(dueNow(found, T0)).toEqual(["expire"]);
  });

  it("names each due deadline once, in the order they run: outbox, expire, confirm, challenge, device_idle", () => {
    expect(dueNow(found, T0 + 2_000)).toEqual(["outbox", "expire", "challenge", "device_idle"]);
    expect(dueNow(found, T0 + 10_000)).toEqual(["outbox", "expire", "confirm", "challenge", "device_idle"]);
  });

  it("leaves out what is not yet due", () => {
    expect(dueNow(found, T0 + 1_499)).toEqual(["outbox", "expire", "device_idle"]);
  });

  it("on a linked session whose resume left its challenge unanswered, names challenge and not device_idle", () => {
    const now = silentAt(resuming, config);
    expect(dueNow(deadlines(linked, [browser, phone, resuming], [], config), now)).toEqual(["challenge"]);
  });
});

describe("retryDelayMs", () => {
  it("doubles from a second for each failed attempt, up to a minute", () => {
    expect([0, 1, 2, 3, 5, 6, 20].map(retryDelayMs)).toEqual([1_000, 2_000, 4_000, 8_000, 32_000, 60_000, 60_000]);
  });
});
