// Reading a client address (`cf-connecting-ip`) the same way everywhere:
// IPv4 as written or mapped into IPv6, and IPv6 with its `::` expanded, so a
// compressed address and its full form are the same address.

/** The IPv4 address `ip` is, written plainly or as IPv6 (::ffff:192.0.2.1); null for any other IPv6 address. */
export function ipv4Of(ip: string): string | null {
  return ip.includes(".") ? ip.slice(ip.lastIndexOf(":") + 1) : null;
}

/** The eight groups of an IPv6 address, `::` expanded, lowercase and without leading zeros ("2001:db8::1" → 2001, db8, 0, …, 1). */
export function ipv6Groups(ip: string): string[] {
  const [head = "", tail = ""] = ip.toLowerCase().split("::");
  const headGroups = head ? head.split(":") : [];
  const tailGroups = tail ? tail.split(":") : [];
  const zeros = ip.includes("::") ? Array<string>(Math.max(0, 8 - headGroups.length - tailGroups.length)).fill("0") : [];
  return [...headGroups, ...zeros, ...tailGroups].map((group) => group.replace(/^0+(?=.)/, ""));
}
