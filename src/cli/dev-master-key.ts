import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { masterKeyFiles, readKeyFile } from '../keys/master-key.js';
import { masterKey, type MasterKeyRing } from '../keys/sealing.js';

/** Writes a key file so that a crash leaves either the old content or the new, never half a key. */
function writeDurably(file: string, keys: Buffer[]): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, keys.map((k) => k.toString('base64url')).join('\n') + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  syncDir(path.dirname(file));
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export interface DevKeyRotation {
  /** The ring to re-wrap with: the new key current, every older one still opening. */
  ring: MasterKeyRing;
  /** Makes the new key DATA_DIR/master.key; call only once everything is re-wrapped. */
  finish(): void;
}

/**
 * `keys rotate-master --generate` for the development key file (no MASTER_KEY). The order keeps every sealed value
 * openable whenever the process stops:
 *   1. the new key goes to master.key.next (the loader always reads it as an extra key), or an interrupted
 *      rotation's key found there is reused;
 *   2. the old key is added to master.key.previous;
 *   3. (caller) every value is re-wrapped under the new key;
 *   4. master.key.next is renamed over master.key (an atomic rename).
 * A crash before 4 restarts on the old key with the new one still opening; running the command again finishes.
 * `ring` is the running server's ring when the command arrives over the admin socket: it switches to the new key at
 * once, so nothing is sealed under the old key after the re-wrap has passed it.
 */
export function beginDevKeyRotation(dataDir: string, extraPrevious: Buffer[], ring?: MasterKeyRing): DevKeyRotation {
  const files = masterKeyFiles(dataDir);
  const [old] = readKeyFile(files.current);
  if (!old) throw new Error(`${files.current} holds no master key; start the server once to create it`);
  let next = readKeyFile(files.next)[0];
  if (!next) {
    next = randomBytes(32);
    writeDurably(files.next, [next]);
  }
  const previous = readKeyFile(files.previous);
  if (!previous.some((k) => k.equals(old))) writeDurably(files.previous, [...previous, old]);

  const target: MasterKeyRing = ring ?? { current: masterKey(old), byId: new Map() };
  for (const key of [next, old, ...previous, ...extraPrevious]) {
    const entry = masterKey(key);
    target.byId.set(entry.id, entry);
  }
  target.current = masterKey(next);
  return {
    ring: target,
    finish() {
      renameSync(files.next, files.current);
      syncDir(dataDir);
    },
  };
}
