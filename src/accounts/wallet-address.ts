import { keccak256 } from './keccak.js';

const SHAPE = /^0x[0-9a-fA-F]{40}$/;

/** The EIP-55 spelling of an address: each letter upper case where the Keccak-256 of the lower-case hex has a nibble ≥ 8. */
export function checksummed(address: string): string {
  const hex = address.slice(2).toLowerCase();
  const hash = Buffer.from(keccak256(Buffer.from(hex, 'ascii'))).toString('hex');
  return '0x' + [...hex].map((char, i) => (parseInt(hash[i]!, 16) >= 8 ? char.toUpperCase() : char)).join('');
}

/**
 * An Ethereum address: 0x and 40 hex digits. All lower (or all upper) case carries no checksum and is accepted;
 * mixed case claims an EIP-55 checksum, which must then be right: a wrong one is almost always a typo.
 */
export function isEthereumAddress(value: string): boolean {
  if (!SHAPE.test(value)) return false;
  const hex = value.slice(2);
  if (hex === hex.toLowerCase() || hex === hex.toUpperCase()) return true;
  return checksummed(value) === value;
}
