import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { Redis } from 'ioredis';
import { AtRest, type UserCodes } from './at-rest.js';
import { handleOf } from '../src/db/at-rest-keys.js';
import { coalesce } from '../src/db/coalesce.js';

/**
 * oidc-provider's storage contract on Redis, for the short-lived models (adapters/index.ts), with the same behaviour
 * as PostgresAdapter. An entry is a hash `oauth3:<model>:<key>` holding the JSON `payload` and, once used, `consumed`
 * (epoch seconds); Redis expires it after `expiresIn`. Lookups go through index keys `oauth3:<model>:by-…:<value>`,
 * which cannot collide with entries because keys are base64url and never contain `:`. The key is the digest of the
 * id oidc-provider hands out, index keys and values hold grant ids, session uids, keys and user-code digests, and the
 * payload no handed-out value (adapters/at-rest.ts, docs/threat-model.md J2).
 */

type IndexKind = 'grant' | 'pointer';
interface Index {
  key: string;
  kind: IndexKind;
}

// KEYS: the entry, then its index keys. ARGV: its storage key, payload, ttl in seconds ('' = none), then each index
// key's kind. A grant's set lives as long as its longest-lived member, so revokeByGrantId still sees every member.
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

// One script, so of many parallel consumes exactly one finds the field unset (threat model B2, C2). EXISTS first:
// HSETNX alone would create a bare hash for an unknown or expired id.
const CONSUME = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HSETNX', KEYS[1], 'consumed', ARGV[1])`;

// KEYS: pointers (uids' or user codes' index keys, with any prefix the client adds). ARGV: each pointer's name after
// the model's prefix ("by-uid:…"), so the entry's key is made from the pointer's own. For each, the entry it names,
// read in the same round trip: its storage key, payload and consumed time (nil replies for what is not there), or
// false when the pointer leads nowhere.
const FIND_BY_POINTERS = `
local found = {}
for i = 1, #KEYS do
  local key = redis.call('GET', KEYS[i])
  if key then
    local fields = redis.call('HMGET', string.sub(KEYS[i], 1, #KEYS[i] - #ARGV[i]) .. key, 'payload', 'consumed')
    found[i] = {key, fields[1], fields[2]}
  else
    found[i] = false
  end
end
return found`;

// KEYS: the entry, then its index keys. ARGV: its storage key, then each index key's kind. A pointer is removed only
// while it still names this entry: a newer entry (a session that took over the uid) may own it by now.
const DESTROY = `
redis.call('DEL', KEYS[1])
for i = 2, #KEYS do
  if ARGV[i] == 'grant' then redis.call('SREM', KEYS[i], ARGV[1])
  elseif redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
end`;

/** An entry's stored payload, marked consumed (epoch seconds) when it was. */
const payloadOf = (payload: string, consumed: string | null | undefined): AdapterPayload => {
  const parsed = JSON.parse(payload) as AdapterPayload;
  return consumed ? { ...parsed, consumed: Number(consumed) } : parsed;
};

type Pointed = [key: string, payload: string | null, consumed: string | null] | null;

/** What a pointer led to, parsed: its entry's storage key and stored payload, if there is one. */
const pointed = (found: Pointed): { key: string; stored: AdapterPayload } | undefined => {
  const [key, payload, consumed] = found ?? [];
  return key && payload ? { key, stored: payloadOf(payload, consumed) } : undefined;
};

export class RedisAdapter implements Adapter {
  private readonly atRest: AtRest;
  // Concurrent finds by uid (every introspection of a token bound to its sign-in makes one) share one script call.
  private readonly findUids = coalesce((uids: string[]) => this.readManyByPointer('uid', uids));

  constructor(
    private readonly model: string,
    private readonly redis: Redis,
    /** The key user codes are digested under (DeviceCode only). */
    userCodes?: UserCodes,
  ) {
    this.atRest = new AtRest(model, userCodes);
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const key = this.atRest.key(id);
    const stored = this.atRest.stored(id, payload);
    const indexes = this.indexesOf(stored);
    const ttl = expiresIn === undefined ? '' : String(Math.ceil(expiresIn));
    await this.redis.eval(
      UPSERT,
      1 + indexes.length,
      this.entry(key),
      ...indexes.map((index) => index.key),
      key,
      JSON.stringify(stored),
      ttl,
      ...indexes.map((index) => index.kind),
    );
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const stored = await this.read(this.atRest.key(id));
    return stored && this.atRest.restored(stored, id);
  }

  /** A session by its uid: the caller never had the session's id, so `jti` is a handle (adapters/at-rest.ts). */
  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    // Each caller parses its own payload: oidc-provider changes what it is given.
    const found = pointed(await this.findUids(uid));
    return found?.stored.uid === uid ? this.atRest.restored(found.stored, this.handle(found.key)) : undefined;
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    for (const digest of this.atRest.userCodeLookups(userCode)) {
      const found = await this.readByPointer('user-code', digest);
      if (found?.stored.userCode === digest) return this.atRest.restored(found.stored, this.handle(found.key), userCode);
    }
    return undefined;
  }

  async consume(id: string): Promise<void> {
    const changed = await this.redis.eval(CONSUME, 1, this.entry(this.atRest.key(id)), Math.floor(Date.now() / 1000));
    if (changed !== 1) throw new errors.InvalidGrant('grant request is invalid (already used)');
  }

  async destroy(id: string): Promise<void> {
    const key = this.atRest.key(id);
    const payload = await this.redis.hget(this.entry(key), 'payload');
    const indexes = payload ? this.indexesOf(JSON.parse(payload) as AdapterPayload) : [];
    await this.redis.eval(
      DESTROY,
      1 + indexes.length,
      this.entry(key),
      ...indexes.map((index) => index.key),
      key,
      ...indexes.map((index) => index.kind),
    );
  }

  /** Deletes the grant's entries in one transaction; their uid and user-code pointers then lead nowhere and expire. */
  async revokeByGrantId(grantId: string): Promise<void> {
    const grantKey = this.indexKey('grant', grantId);
    const keys = await this.redis.smembers(grantKey);
    if (!keys.length) return;
    await this.redis
      .multi()
      .del(...keys.map((key) => this.entry(key)))
      .srem(grantKey, ...keys)
      .exec();
  }

  /** The entry stored under a storage key (adapters/at-rest.ts), as stored, marked consumed when it was. */
  private async read(key: string): Promise<AdapterPayload | undefined> {
    const { payload, consumed } = await this.redis.hgetall(this.entry(key));
    return payload ? payloadOf(payload, consumed) : undefined;
  }

  /** The entry a pointer names, and its storage key, in one command. */
  private async readByPointer(by: 'uid' | 'user-code', value: string): Promise<{ key: string; stored: AdapterPayload } | undefined> {
    return pointed((await this.readManyByPointer(by, [value]))[0]!);
  }

  /** The entries many pointers name, and their storage keys, in one command (FIND_BY_POINTERS). */
  private async readManyByPointer(by: 'uid' | 'user-code', values: string[]): Promise<Pointed[]> {
    const pointers = values.map((value) => this.indexKey(by, value));
    const names = pointers.map((pointer) => pointer.slice(this.entry('').length));
    // A pointer that leads nowhere is Lua's false, which Redis answers as a nil reply: null.
    return (await this.redis.eval(FIND_BY_POINTERS, pointers.length, ...pointers, ...names)) as Pointed[];
  }

  private entry(key: string): string {
    return `oauth3:${this.model}:${key}`;
  }

  private indexKey(by: 'grant' | 'uid' | 'user-code', value: string): string {
    return `oauth3:${this.model}:by-${by}:${value}`;
  }

  /** The same lookups PostgresAdapter keeps as columns beside the payload, from the stored payload. */
  private indexesOf(stored: AdapterPayload): Index[] {
    const indexes: Index[] = [];
    if (stored.grantId) indexes.push({ key: this.indexKey('grant', stored.grantId), kind: 'grant' });
    if (stored.uid) indexes.push({ key: this.indexKey('uid', stored.uid), kind: 'pointer' });
    if (stored.userCode) indexes.push({ key: this.indexKey('user-code', stored.userCode), kind: 'pointer' });
    return indexes;
  }

  private handle(key: string): string {
    return this.atRest.plain ? key : handleOf(this.model, key);
  }
}
