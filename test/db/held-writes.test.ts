import { describe, expect, it } from '@jest/globals';
import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';
import { deferConsume, heldRow, heldWrite, holdWrites, settleHeldWrites, whenStored } from '../../src/db/held-writes.js';
import { errors } from 'oidc-provider';
import { storedBeforeAnswered } from '../../src/provider/stored-before-answered.js';

/**
 * Writes a request's answer waits for (src/db/held-writes.ts), apart from the storage that makes them, and the token
 * endpoint's guard that waits for them (src/provider/stored-before-answered.ts).
 */
describe('held writes', () => {
  it('are held only by a request that holds its writes, until settled', async () => {
    const request = {};
    expect(heldWrite(undefined, Promise.resolve())).toBe(false);
    expect(heldWrite(request, Promise.resolve())).toBe(false);
    holdWrites(request);
    let stored = false;
    expect(heldWrite(request, new Promise<void>((resolve) => setTimeout(() => resolve(void (stored = true)), 20)))).toBe(true);
    await settleHeldWrites(request);
    expect(stored).toBe(true);
    // Settled: a later write is the caller's to await.
    expect(heldWrite(request, Promise.resolve())).toBe(false);
  });

  it('reject the settling with a failed write, and never as an unhandled rejection before it', async () => {
    const request = {};
    const unhandled: unknown[] = [];
    const listener = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', listener);
    try {
      holdWrites(request);
      heldWrite(request, Promise.resolve());
      heldWrite(request, Promise.reject(new Error('refused')));
      // Long enough for Node to report a rejection nobody handled.
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([]);
      await expect(settleHeldWrites(request)).rejects.toThrow('refused');
    } finally {
      process.off('unhandledRejection', listener);
    }
  });

  it('run what waits for them once all are stored, at once without any, and never after a failure', async () => {
    const ran: string[] = [];
    whenStored({}, () => ran.push('not holding'));
    expect(ran).toEqual(['not holding']);

    const [stored, failed] = [{}, {}];
    holdWrites(stored);
    holdWrites(failed);
    heldWrite(stored, new Promise((resolve) => setTimeout(resolve, 10)));
    heldWrite(failed, Promise.reject(new Error('refused')));
    whenStored(stored, () => ran.push('stored'));
    whenStored(failed, () => ran.push('failed'));
    expect(ran).toEqual(['not holding']);
    await settleHeldWrites(stored);
    await expect(settleHeldWrites(failed)).rejects.toThrow('refused');
    expect(ran).toEqual(['not holding', 'stored']);
  });

  it('send a deferred consume with the rows kept after it, once, at the settling, even without rows', async () => {
    const sent: [string, unknown[]][] = [];
    const send = (consumes: string, rows: unknown[]) => Promise.resolve(void sent.push([consumes, rows]));
    const request = {};
    // Not holding: the caller consumes and writes at once.
    expect(deferConsume(request, 'k', send)).toBe(false);
    expect(heldRow(request, 'row')).toBe(false);
    holdWrites(request);
    expect(heldRow(request, 'row')).toBe(false);
    expect(deferConsume(request, 'k', send)).toBe(true);
    // A second consume in the same request is the caller's to run now.
    expect(deferConsume(request, 'other', send)).toBe(false);
    expect(heldRow(request, 'new refresh token')).toBe(true);
    expect(heldRow(request, 'access token')).toBe(true);
    expect(sent).toEqual([]);
    await settleHeldWrites(request);
    expect(sent).toEqual([['k', ['new refresh token', 'access token']]]);
    expect(heldRow(request, 'later')).toBe(false);

    const lone = {};
    holdWrites(lone);
    deferConsume(lone, 'spent', () => Promise.reject(new Error('already used')));
    const ran: string[] = [];
    whenStored(lone, () => ran.push('logged'));
    await expect(settleHeldWrites(lone)).rejects.toThrow('already used');
    expect(ran).toEqual([]);
  });

  it('keep each request to its own writes', async () => {
    const [one, other] = [{}, {}];
    holdWrites(one);
    holdWrites(other);
    heldWrite(other, Promise.reject(new Error("the other request's write")));
    await expect(settleHeldWrites(one)).resolves.toBeUndefined();
    await expect(settleHeldWrites(other)).rejects.toThrow("the other request's write");
  });
});

describe("the token endpoint's guard", () => {
  /** A stand-in for oidc-provider: what the guard emits. */
  const provider = () => {
    const emitted: unknown[][] = [];
    return { emitted, provider: { emit: (...args: unknown[]) => emitted.push(args) } as unknown as Provider };
  };
  const answer = (status: number, body: object, write?: Promise<unknown>) => async (ctx: Context) => {
    if (write) heldWrite(ctx, write);
    ctx.status = status;
    ctx.body = body;
  };
  const run = async (guard: Middleware, next: (ctx: Context) => Promise<void>) => {
    const ctx = { status: 404, body: undefined } as unknown as Context;
    await guard(ctx, () => next(ctx));
    return ctx;
  };

  it('lets a stored answer leave as it is, and holds none after it', async () => {
    const { emitted, provider: p } = provider();
    let stored = false;
    const ctx = await run(
      storedBeforeAnswered(p),
      answer(200, { access_token: 'a' }, new Promise<void>((resolve) => setTimeout(() => resolve(void (stored = true)), 10))),
    );
    expect(stored).toBe(true);
    expect({ status: ctx.status, body: ctx.body }).toEqual({ status: 200, body: { access_token: 'a' } });
    expect(heldWrite(ctx, Promise.resolve())).toBe(false);
    expect(emitted).toEqual([]);
  });

  it("turns a success whose write failed into oidc-provider's server_error, with no token, and reports it", async () => {
    const { emitted, provider: p } = provider();
    const failure = new Error('the database refused the write');
    const ctx = await run(storedBeforeAnswered(p), answer(200, { access_token: 'a' }, Promise.reject(failure)));
    expect({ status: ctx.status, body: ctx.body }).toEqual({
      status: 500,
      body: { error: 'server_error', error_description: 'oops! something went wrong' },
    });
    expect(emitted).toEqual([['server_error', ctx, failure]]);
  });

  it('answers a refresh whose token another request spent first as the consume would have: invalid_grant, a grant error', async () => {
    const { emitted, provider: p } = provider();
    const refusal = new errors.InvalidGrant('grant request is invalid (already used)');
    const ctx = await run(storedBeforeAnswered(p), answer(200, { access_token: 'a' }, Promise.reject(refusal)));
    expect({ status: ctx.status, body: ctx.body }).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'grant request is invalid' },
    });
    expect(emitted).toEqual([['grant.error', ctx, refusal]]);
  });

  it('leaves an error answer as it was when a write failed too, and still reports the failure', async () => {
    const { emitted, provider: p } = provider();
    const failure = new Error('the database refused the write');
    const ctx = await run(storedBeforeAnswered(p), answer(400, { error: 'invalid_grant' }, Promise.reject(failure)));
    expect({ status: ctx.status, body: ctx.body }).toEqual({ status: 400, body: { error: 'invalid_grant' } });
    expect(emitted).toEqual([['server_error', ctx, failure]]);
  });
});
