import { describe, expect, it } from '@jest/globals';
import { copyJson } from '../../src/db/json-copy.js';

/** The copy a caller may change while the row it came from is kept or shared (connections' metadata, client metadata). */
describe('copyJson', () => {
  const original = () => ({
    username: 'owner',
    count: 3,
    verified: false,
    missing: null,
    scopes: ['tweet.read', 'tweet.write'],
    jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }] },
    nested: [[1, 2], { deep: { deeper: 'yes' } }],
  });

  it('is equal to the original', () => {
    expect(copyJson(original())).toStrictEqual(original());
  });

  it('shares no object or array with the original: changing the copy, at any depth, leaves the original as it was', () => {
    const kept = original();
    const copy = copyJson(kept);
    copy.scopes.push('dm.read');
    copy.jwks.keys[0]!.x = 'changed';
    (copy.nested[0] as number[]).push(3);
    (copy.nested[1] as { deep: { deeper: string } }).deep.deeper = 'no';
    copy.username = 'someone else';
    expect(kept).toStrictEqual(original());
  });

  it('keeps a "__proto__" key as data (JSON.parse makes it an own property), never as the copy’s prototype', () => {
    const parsed = JSON.parse('{"__proto__": {"isAdmin": true}, "name": "x"}') as Record<string, unknown>;
    const copy = copyJson(parsed);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(copy.isAdmin).toBeUndefined();
    expect(Object.keys(copy)).toEqual(['__proto__', 'name']);
    expect(JSON.stringify(copy)).toBe(JSON.stringify(parsed));
  });

  it('returns strings, numbers, booleans and null as they are', () => {
    for (const value of ['text', 0, 1.5, true, false, null]) expect(copyJson(value)).toBe(value);
  });
});
