import type Provider from 'oidc-provider';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import instance from 'oidc-provider/lib/helpers/weak_cache.js';
import type { Database } from '../db/database.js';
import { digestOf } from '../db/at-rest-keys.js';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** RFC 8628 §3.5: each slow_down adds 5 seconds to the interval, for that poll and every later one. */
const SLOW_DOWN_SECONDS = 5;
/** Polls arriving this much sooner than the interval still count as on time: network jitter, not haste. */
const LEEWAY_SECONDS = 0.5;

export interface DevicePollingOptions {
  provider: Provider;
  db: Database;
  /** The interval the device authorization response announces (DEVICE_POLL_INTERVAL), in seconds. */
  intervalSeconds: number;
  /** How long a device code lives (DEVICE_CODE_TTL): no row outlives it. */
  ttlSeconds: number;
}

/**
 * The polling interval of the device flow (RFC 8628 §3.2, §3.5; docs/threat-model.md B9). oidc-provider 9 defines
 * the `slow_down` error but neither announces an interval nor enforces one, so a device may poll the token endpoint
 * as fast as it likes. Here the device authorization response carries `interval`, and a poll of a pending device code
 * that comes sooner than its interval after the previous one is answered `slow_down`, its interval 5 seconds longer
 * from then on. The count lives in the database (migration 011), so every replica enforces the same interval.
 *
 * Only polls that oidc-provider answered `authorization_pending` are counted: a device code that is unknown, expired
 * or already approved leaves nothing behind, and an approved one gets its tokens on the first poll that asks.
 */
export function paceDevicePolls({ provider, db, intervalSeconds, ttlSeconds }: DevicePollingOptions): void {
  provider.on('device_authorization.success', (_ctx: KoaContextWithOIDC, response: Record<string, unknown>) => {
    // The response object is the body oidc-provider is about to send.
    response.interval = intervalSeconds;
  });

  const handlers = instance(provider)?.grantTypeHandlers;
  const handler = handlers?.get(DEVICE_GRANT);
  if (!handlers || !handler)
    throw new Error('oidc-provider changed: no device_code grant handler to pace (src/provider/device-polling.ts)');

  handlers.set(DEVICE_GRANT, async function pacedDeviceCodeGrant(ctx) {
    try {
      await handler(ctx);
    } catch (error) {
      if (!(error instanceof errors.AuthorizationPending)) throw error;
      const param = (ctx as KoaContextWithOIDC).oidc.params?.device_code;
      const deviceCode = typeof param === 'string' ? param : '';
      const { tooSoon, interval } = await recordPoll(db, deviceCode, intervalSeconds, ttlSeconds);
      if (tooSoon) throw new errors.SlowDown(`poll at most every ${interval} seconds`);
      throw error;
    }
  });
}

/** Records a poll of a pending device code; tells whether it came too soon, and the interval from now on. */
async function recordPoll(
  db: Database,
  deviceCode: string,
  intervalSeconds: number,
  ttlSeconds: number,
): Promise<{ tooSoon: boolean; interval: number }> {
  const key = digestOf('DeviceCode', deviceCode);
  // In ON CONFLICT's SET, `p` is the row as it was: a poll before `polled_at + interval` (less the leeway) is too
  // soon. `slowed_at = now()` in RETURNING marks that this very statement slowed it down.
  const { rows } = await db.query<{ interval_seconds: number; too_soon: boolean | null }>(
    `INSERT INTO device_polls AS p (key, interval_seconds, polled_at, expires_at)
     VALUES ($1, $2, now(), now() + make_interval(secs => $3::int))
     ON CONFLICT (key) DO UPDATE SET
       interval_seconds = p.interval_seconds
         + CASE WHEN now() < p.polled_at + make_interval(secs => p.interval_seconds - $4::float8) THEN $5::int ELSE 0 END,
       slowed_at = CASE WHEN now() < p.polled_at + make_interval(secs => p.interval_seconds - $4::float8) THEN now() ELSE p.slowed_at END,
       polled_at = now()
     RETURNING interval_seconds, slowed_at = now() AS too_soon`,
    [key, intervalSeconds, ttlSeconds, LEEWAY_SECONDS, SLOW_DOWN_SECONDS],
  );
  return { tooSoon: rows[0]?.too_soon === true, interval: Number(rows[0]?.interval_seconds ?? intervalSeconds) };
}
