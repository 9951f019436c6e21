/**
 * Keccak-256 as Ethereum uses it (the original Keccak padding, not NIST SHA3-256, which Node's crypto offers).
 * Only used for EIP-55 address checksums, over 40 bytes of input, so clarity wins over speed: 64-bit lanes as
 * BigInt, and the round constants and rotation offsets computed from their definitions (FIPS 202 §3.2) rather
 * than typed in.
 */
const MASK = (1n << 64n) - 1n;
const RATE = 136; // bytes: 1600 - 2 * 256 bits of capacity

const rotl = (lane: bigint, n: number) => ((lane << BigInt(n)) | (lane >> BigInt(64 - n))) & MASK;

/** ι round constants from the LFSR x^8 + x^6 + x^5 + x^4 + 1 (FIPS 202 Algorithm 5). */
const ROUND_CONSTANTS = (() => {
  const out: bigint[] = [];
  let lfsr = 1;
  for (let round = 0; round < 24; round++) {
    let rc = 0n;
    for (let j = 0; j < 7; j++) {
      if (lfsr & 1) rc ^= 1n << BigInt((1 << j) - 1);
      lfsr = lfsr & 0x80 ? ((lfsr << 1) ^ 0x71) & 0xff : (lfsr << 1) & 0xff;
    }
    out.push(rc);
  }
  return out;
})();

/** ρ offsets and π destinations, walking (x, y) → (y, 2x + 3y) from (1, 0) (FIPS 202 §3.2.2–3.2.3). */
const [RHO, PI] = (() => {
  const rho: number[] = [];
  const pi: number[] = [];
  let [x, y] = [1, 0];
  for (let t = 0; t < 24; t++) {
    rho.push((((t + 1) * (t + 2)) / 2) % 64);
    [x, y] = [y, (2 * x + 3 * y) % 5];
    pi.push(x + 5 * y);
  }
  return [rho, pi];
})();

function permute(s: bigint[]): void {
  for (let round = 0; round < 24; round++) {
    // θ
    const c = [0, 1, 2, 3, 4].map((x) => s[x]! ^ s[x + 5]! ^ s[x + 10]! ^ s[x + 15]! ^ s[x + 20]!);
    for (let x = 0; x < 5; x++) {
      const d = c[(x + 4) % 5]! ^ rotl(c[(x + 1) % 5]!, 1);
      for (let y = 0; y < 25; y += 5) s[x + y]! ^= d;
    }
    // ρ and π
    let carried = s[1]!;
    for (let t = 0; t < 24; t++) {
      const next = s[PI[t]!]!;
      s[PI[t]!] = rotl(carried, RHO[t]!);
      carried = next;
    }
    // χ
    for (let y = 0; y < 25; y += 5) {
      const row = s.slice(y, y + 5);
      for (let x = 0; x < 5; x++) s[x + y] = row[x]! ^ (~row[(x + 1) % 5]! & MASK & row[(x + 2) % 5]!);
    }
    // ι
    s[0]! ^= ROUND_CONSTANTS[round]!;
  }
}

export function keccak256(data: Uint8Array): Uint8Array {
  // Keccak padding: 0x01 … 0x80 to a whole number of blocks.
  const padded = new Uint8Array(Math.floor(data.length / RATE + 1) * RATE);
  padded.set(data);
  padded[data.length]! ^= 0x01;
  padded[padded.length - 1]! ^= 0x80;

  const state = new Array<bigint>(25).fill(0n);
  const view = new DataView(padded.buffer);
  for (let offset = 0; offset < padded.length; offset += RATE) {
    for (let i = 0; i < RATE / 8; i++) state[i]! ^= view.getBigUint64(offset + i * 8, true);
    permute(state);
  }
  const out = new DataView(new ArrayBuffer(32));
  for (let i = 0; i < 4; i++) out.setBigUint64(i * 8, state[i]!, true);
  return new Uint8Array(out.buffer);
}
