// What the phone is shown of a browser's address, and what the rate limits
// count by: both read IPv6 with its `::` expanded, and IPv4 also when it is
// written as IPv6.
import { describe, expect, it } from "vitest";
import { ipPrefix } from "../../src/worker/device-context";
import { addressKey } from "../../src/worker/rate-limit";

describe("ipPrefix (the address the phone is shown)", () => {
  it("keeps the /48 of a compressed IPv6 address", () => {
    expect(ipPrefix("2001:db8::1")).toBe("2001:db8:0::/48");
    expect(ipPrefix("2001:DB8:0:0:0:0:0:1")).toBe("2001:db8:0::/48");
    expect(ipPrefix("2001:0db8:00ab:1::7")).toBe("2001:db8:ab::/48");
    expect(ipPrefix("::1")).toBe("0:0:0::/48");
  });

  it("reads IPv4 as IPv4, also when it is written as IPv6", () => {
    expect(ipPrefix("203.0.113.7")).toBe("203.0.113.x");
    expect(ipPrefix("::ffff:203.0.113.7")).toBe("203.0.113.x");
    expect(ipPrefix(null)).toBe("unknown");
    expect(ipPrefix("not.an.address")).toBe("unknown");
  });

  it("agrees with the rate limits' key on where an address is", () => {
    expect(addressKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(addressKey("::ffff:203.0.113.7")).toBe("203.0.113.7");
    expect(addressKey("203.0.113.7")).toBe("203.0.113.7");
  });
});
