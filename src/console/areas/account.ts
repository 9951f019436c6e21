import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import { AppError, assertThat } from '../../errors.js';
import type { Passkey } from '../../accounts/accounts.js';
import { deleteAccount } from '../account-deletion.js';
import { consoleStages, type ConsoleDeps, pendingOf } from '../kit.js';
import { ownerOf } from '../../accounts/owner-session.js';
import { accountBody } from '../views/account.js';
import { consolePage } from '../views/layout.js';

const Assertion = z
  .object({ id: z.string().min(1).max(1024), rawId: z.string().max(1024), type: z.literal('public-key'), response: z.object({}).loose() })
  .loose();

/** /console/account: deleting the account, confirmed with one of the owner's passkeys at the moment of deletion. */
export function accountArea(router: Router, deps: ConsoleDeps): void {
  const { accounts, ceremonies, events, limiter } = deps;
  const { mutate, csrfFor } = consoleStages(deps);
  const sessions = deps.browserSessions;
  // The confirmation challenge belongs to this browser session and to this purpose only.
  const binding = (ctx: Context) => `delete:${ownerOf(ctx).sessionUid}`;
  const failures = (ctx: Context) => `console-passkey-failures:${ownerOf(ctx).accountId}`;

  const throttle: Middleware = async (ctx, next) => {
    await limiter.check(failures(ctx));
    await next();
  };

  /** Verifies the assertion (challenge, origin, RP ID, flags, signature, counter: E2-E6), then that it is this owner's. */
  const confirmWithPasskey: Middleware = async (ctx, next) => {
    const owner = ownerOf(ctx);
    let passkey: Passkey;
    try {
      passkey = await ceremonies.verifyAuthentication(binding(ctx), Assertion.parse(ctx.state.body) as never);
      // A valid passkey of another account proves nothing about this one (E6).
      assertThat(passkey.accountId === owner.accountId, 'passkey_not_yours', 403, 'Confirm with a passkey of this account.');
    } catch (error) {
      const code = error instanceof AppError ? error.code : 'invalid_request';
      await limiter.fail(failures(ctx));
      await events.record({
        kind: 'account.delete',
        outcome: code === 'passkey_counter' ? 'security' : 'failure',
        accountId: owner.accountId,
        ip: ctx.ip,
        detail: { reason: code },
      });
      throw error;
    }
    ctx.state.confirmedWith = passkey;
    await next();
  };

  router.get('/console/account', async function showAccount(ctx) {
    const owner = ownerOf(ctx);
    ctx.type = 'html';
    ctx.body = consolePage({
      pendingApprovals: pendingOf(ctx),
      title: 'Account',
      active: '/console/account',
      csrf: csrfFor(ctx),
      body: accountBody({
        createdAt: owner.account.createdAt,
        passkeys: (await accounts.listPasskeys(owner.accountId)).length,
        sessions: (await sessions.list(owner.accountId)).length,
      }),
      scripts: ['/static/simplewebauthn-browser.umd.js', '/static/console.js'],
    });
  });

  router.post('/console/api/account/delete/options', ...mutate, throttle, async function deletionOptions(ctx) {
    const options = await ceremonies.authenticationOptions(binding(ctx));
    // Offer only this owner's passkeys in the browser's prompt; the server still checks whose passkey answered.
    const own = await accounts.listPasskeys(ownerOf(ctx).accountId);
    ctx.body = { ...options, allowCredentials: own.map((p) => ({ id: p.id, type: 'public-key', transports: p.transports })) };
  });

  router.post('/console/api/account/delete', ...mutate, throttle, confirmWithPasskey, async function deleteOwnAccount(ctx) {
    const owner = ownerOf(ctx);
    const summary = await deleteAccount(
      { provider: deps.provider, db: deps.db, accounts, sessions, clients: deps.clients },
      owner.accountId,
    );
    // Recorded after the account's own log is gone: the operators' trace that it was deleted, and by whom (an id only).
    await events.record({ kind: 'account.deleted', accountId: owner.accountId, detail: { ...summary } });
    ctx.body = { deleted: true };
  });
}
