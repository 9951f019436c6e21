import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { decodeKey, type Config } from '../config.js';
import type { Logger } from '../logger.js';
import { keyRing, type MasterKeyRing } from './sealing.js';

/**
 * The master key comes from MASTER_KEY. In development only, a missing one is generated once into
 * DATA_DIR/master.key (mode 0600) so a newcomer's `npm start` works; production refuses to start without it (I4).
 */
export function loadMasterKeys(config: Config, logger: Logger): MasterKeyRing {
  if (config.MASTER_KEY) return keyRing(decodeKey(config.MASTER_KEY)!);
  if (config.NODE_ENV === 'production') throw new Error('MASTER_KEY is required in production');

  const file = path.join(config.DATA_DIR, 'master.key');
  if (existsSync(file)) {
    const key = decodeKey(readFileSync(file, 'utf8'));
    if (key?.length !== 32) throw new Error(`${file} does not hold a 32-byte key; restore it or set MASTER_KEY`);
    return keyRing(key);
  }
  mkdirSync(config.DATA_DIR, { recursive: true });
  const key = randomBytes(32);
  writeFileSync(file, key.toString('base64url') + '\n', { mode: 0o600, flag: 'wx' });
  logger.warn({ file }, 'generated a development master key; set MASTER_KEY in production');
  return keyRing(key);
}
