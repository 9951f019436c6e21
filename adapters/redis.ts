import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { Redis } from 'ioredis';

/**
 * oidc-provider's storage contract on Redis, for the short-lived models (adapters/index.ts), with the same behaviour
 * as PostgresAdapter. An entry is a hash `oauth3:<model>:<id>` holding the JSON `payload` and, once used, `consumed`
 * (epoch seconds); Redis expires it after `expiresIn`. Lookups go through index keys `oauth3:<model>:by-…:<value>`,
 * which cannot collide with entries because oidc-provider's ids are base64url and never contain `:`.
 */

type IndexKind = 'grant' | 'pointer';
interface Index {
  key: string;
  kind: IndexKind;
}

// KEYS: the entry, then its index keys. ARGV: id, payload, ttl in seconds ('' = none), then each index key's kind.
// A grant's set lives as long as its longest-lived member, so revokeByGrantId still sees every member.
const UPSERT = `
local id, ttl = ARGV[1], tonumber(ARGV[3])
local function expire(key)
  if ttl then redis.call('EXPIRE', key, ttl) else redis.call('PERSIST', key) end
end
redis.call('HSET', KEYS[1], 'payload', ARGV[2])
expire(KEYS[1])
for i = 2, #KEYS do
  local key = KEYS[i]
  if ARGV[i + 2] == 'grant' then
    local left = redis.call('TTL', key)
    redis.call('SADD', key, id)
    if not ttl then redis.call('PERSIST', key)
    elseif left == -2 or (left >= 0 and left < ttl) then redis.call('EXPIRE', key, ttl) end
  else
    redis.call('SET', key, id)
    expire(key)
  end
end`;

// One script, so of many parallel consumes exactly one finds the field unset (SECURITY.md B2, C2). EXISTS first:
// HSETNX alone would create a bare hash for an unknown or expired id.
const CONSUME = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HSETNX', KEYS[1], 'consumed', ARGV[1])`;

// KEYS: the entry, then its index keys. ARGV: id, then each index key's kind. A pointer is removed only while it
// still names this id: a newer entry (a session that took over the uid) may own it by now.
const DESTROY = `
redis.call('DEL', KEYS[1])
for i = 2, #KEYS do
  if ARGV[i] == 'grant' then redis.call('SREM', KEYS[i], ARGV[1])
  elseif redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
end`;

export class RedisAdapter implements Adapter {
  constructor(
    private readonly model: string,
    private readonly redis: Redis,
  ) {}

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const indexes = this.indexesOf(payload);
    const ttl = expiresIn === undefined ? '' : String(Math.ceil(expiresIn));
    await this.redis.eval(
      UPSERT,
      1 + indexes.length,
      this.key(id),
      ...indexes.map((index) => index.key),
      id,
      JSON.stringify(payload),
      ttl,
      ...indexes.map((index) => index.kind),
    );
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const { payload, consumed } = await this.redis.hgetall(this.key(id));
    if (!payload) return undefined;
    const parsed = JSON.parse(payload) as AdapterPayload;
    return consumed ? { ...parsed, consumed: Number(consumed) } : parsed;
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const payload = await this.findByPointer(this.indexKey('uid', uid));
    return payload?.uid === uid ? payload : undefined;
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    const payload = await this.findByPointer(this.indexKey('user-code', userCode));
    return payload?.userCode === userCode ? payload : undefined;
  }

  async consume(id: string): Promise<void> {
    const changed = await this.redis.eval(CONSUME, 1, this.key(id), Math.floor(Date.now() / 1000));
    if (changed !== 1) throw new errors.InvalidGrant('grant request is invalid (already used)');
  }

  async destroy(id: string): Promise<void> {
    const payload = await this.redis.hget(this.key(id), 'payload');
    const indexes = payload ? this.indexesOf(JSON.parse(payload) as AdapterPayload) : [];
    await this.redis.eval(
      DESTROY,
      1 + indexes.length,
      this.key(id),
      ...indexes.map((index) => index.key),
      id,
      ...indexes.map((index) => index.kind),
    );
  }

  /** Deletes the grant's entries in one transaction; their uid and user-code pointers then lead nowhere and expire. */
  async revokeByGrantId(grantId: string): Promise<void> {
    const grantKey = this.indexKey('grant', grantId);
    const ids = await this.redis.smembers(grantKey);
    if (!ids.length) return;
    await this.redis
      .multi()
      .del(...ids.map((id) => this.key(id)))
      .srem(grantKey, ...ids)
      .exec();
  }

  private key(id: string): string {
    return `oauth3:${this.model}:${id}`;
  }

  private indexKey(by: 'grant' | 'uid' | 'user-code', value: string): string {
    return `oauth3:${this.model}:by-${by}:${value}`;
  }

  /** The same lookups PostgresAdapter keeps as columns beside the payload. */
  private indexesOf(payload: AdapterPayload): Index[] {
    const indexes: Index[] = [];
    if (payload.grantId) indexes.push({ key: this.indexKey('grant', payload.grantId), kind: 'grant' });
    if (payload.uid) indexes.push({ key: this.indexKey('uid', payload.uid), kind: 'pointer' });
    if (payload.userCode) indexes.push({ key: this.indexKey('user-code', payload.userCode), kind: 'pointer' });
    return indexes;
  }

  private async findByPointer(key: string): Promise<AdapterPayload | undefined> {
    const id = await this.redis.get(key);
    return id ? this.find(id) : undefined;
  }
}
