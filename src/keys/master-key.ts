import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { decodeKey, type Config } from '../config.js';
import type { Logger } from '../logger.js';
import { keyRing, type MasterKeyRing } from './sealing.js';
import { connectDstack, dstackEndpoint, type Tee } from '../tee/dstack.js';

/** The development key files in DATA_DIR (no MASTER_KEY set); see src/cli/rotate-master.ts for the rotation. */
export const masterKeyFiles = (dataDir: string) => ({
  current: path.join(dataDir, 'master.key'),
  /** A key a rotation is moving to: it may already have sealed rows, so it always opens them (crash safety). */
  next: path.join(dataDir, 'master.key.next'),
  /** Earlier keys, one a line, still opening what they sealed until the operator deletes the file. */
  previous: path.join(dataDir, 'master.key.previous'),
});

/** Every 32-byte key in a file of one key a line; a damaged file stops the start rather than losing records. */
export function readKeyFile(file: string): Buffer[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const key = decodeKey(line);
      if (key?.length !== 32) throw new Error(`${file} holds a line that is not a 32-byte key; restore it or set MASTER_KEY`);
      return key;
    });
}

/**
 * The master key comes from MASTER_KEY, with MASTER_KEY_PREVIOUS still opening what older keys sealed (threat
 * model G4). In development only, a missing one is generated once into DATA_DIR/master.key (mode 0600) so a newcomer's
 * `npm start` works; production refuses to start without it (I4).
 */
export function loadMasterKeys(config: Config, logger: Logger): MasterKeyRing {
  const previous = config.MASTER_KEY_PREVIOUS.map((k) => decodeKey(k)!);
  if (config.MASTER_KEY) return keyRing(decodeKey(config.MASTER_KEY)!, previous);
  if (config.NODE_ENV === 'production') throw new Error('MASTER_KEY is required in production');

  const files = masterKeyFiles(config.DATA_DIR);
  if (existsSync(files.current)) {
    const [key] = readKeyFile(files.current);
    if (!key) throw new Error(`${files.current} does not hold a 32-byte key; restore it or set MASTER_KEY`);
    return keyRing(key, [...readKeyFile(files.next), ...readKeyFile(files.previous), ...previous]);
  }
  mkdirSync(config.DATA_DIR, { recursive: true });
  const key = randomBytes(32);
  writeFileSync(files.current, key.toString('base64url') + '\n', { mode: 0o600, flag: 'wx' });
  logger.warn({ file: files.current }, 'generated a development master key; set MASTER_KEY in production');
  return keyRing(key, previous);
}

/**
 * MASTER_KEY_SOURCE=dstack: every key of the ring comes from dstack's KMS inside the confidential VM, the current one
 * at DSTACK_KEY_PATH and earlier ones at DSTACK_KEY_PATHS_PREVIOUS; nothing is read from the environment or a file, and
 * a failure stops the start (threat model J10). The same app and path give the same key on every start, so sealed
 * data still opens after a restart or a redeploy of the same app.
 */
export async function dstackKeyRing(
  config: Pick<Config, 'DSTACK_KEY_PATH' | 'DSTACK_KEY_PATHS_PREVIOUS'>,
  tee: Tee,
): Promise<MasterKeyRing> {
  const current = await tee.deriveKey(config.DSTACK_KEY_PATH);
  const previous: Buffer[] = [];
  for (const keyPath of config.DSTACK_KEY_PATHS_PREVIOUS) previous.push(await tee.deriveKey(keyPath));
  return keyRing(current, previous);
}

/** The ring from wherever MASTER_KEY_SOURCE says (the command line's way; the server keeps its Tee for attestations). */
export async function loadMasterKeyRing(config: Config, logger: Logger): Promise<MasterKeyRing> {
  if (config.MASTER_KEY_SOURCE === 'dstack') return dstackKeyRing(config, connectDstack(dstackEndpoint(config)));
  return loadMasterKeys(config, logger);
}
