/**
 * A client address as people read it. A server listening on IPv6 sees an IPv4 client as an IPv4-mapped address
 * (RFC 4291 §2.5.5.2, "::ffff:203.0.113.5"); pages show the IPv4 address the owner knows.
 */
export function displayAddress(ip: string | null | undefined): string | null {
  if (!ip) return null;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  return mapped ? mapped[1]! : ip;
}
