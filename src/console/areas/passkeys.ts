import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import type { Passkey } from '../../accounts/accounts.js';
import { AppError, assertThat, notFound } from '../../errors.js';
import { pathParam } from '../../http/guard.js';
import { consoleStages, type ConsoleDeps, pendingOf } from '../kit.js';
import { backTo, noticeFrom } from '../../web/notices.js';
import { ownerOf, requireRecentSignIn } from '../../accounts/owner-session.js';
import { nameOf } from '../../accounts/display-name.js';
import { consolePage } from '../views/layout.js';
import { passkeysBody } from '../views/passkeys.js';

const PasskeyName = z.string().trim().min(1, 'give the passkey a name').max(60, 'use at most 60 characters');
const Credential = z
  .object({ id: z.string().min(1).max(1024), rawId: z.string().max(1024), type: z.literal('public-key'), response: z.object({}).loose() })
  .loose();
const AddBody = z.object({ credential: Credential, name: PasskeyName.optional() });
const RenameBody = z.object({ name: PasskeyName });
/** Credential ids are base64url (WebAuthn §5.1: at most 1023 bytes); anything else cannot be one of ours. */
const CredentialId = z.string().regex(/^[A-Za-z0-9_-]{1,1400}$/);

const MESSAGES = {
  added: 'Passkey added. You can now sign in with it.',
  renamed: 'Passkey renamed.',
  removed: 'Passkey removed. It can no longer sign in.',
};

const passkeyJson = (p: Passkey) => ({
  id: p.id,
  name: p.name,
  created_at: p.createdAt.toISOString(),
  last_used_at: p.lastUsedAt?.toISOString() ?? null,
  backed_up: p.backedUp,
  device_type: p.deviceType,
});

/** /console/passkeys and /console/api/passkeys: list, add (after a recent sign-in, E7), rename, remove (never the last). */
export function passkeysArea(router: Router, deps: ConsoleDeps): void {
  const { accounts, ceremonies, events, limiter } = deps;
  const { mutate, csrfFor } = consoleStages(deps);
  const recentSignIn = requireRecentSignIn(deps.config.RECENT_SIGN_IN_SECONDS);
  // Registration challenges belong to this browser session, never to another owner's or another browser's.
  const binding = (ctx: Context) => `session:${ownerOf(ctx).sessionUid}`;
  const failures = (ctx: Context) => `console-passkey-failures:${ownerOf(ctx).accountId}`;

  const throttle: Middleware = async (ctx, next) => {
    await limiter.check(failures(ctx));
    await next();
  };

  /** The owner's passkey named in the URL; another owner's id is "not found", exactly like an unknown one. */
  const credentialId = (ctx: Context): string => {
    const id = CredentialId.safeParse(pathParam(ctx, 'id'));
    if (!id.success) throw notFound('not_found', 'No such passkey.');
    return id.data;
  };

  async function rename(ctx: Context): Promise<Passkey> {
    const id = credentialId(ctx);
    const { name } = RenameBody.parse(ctx.state.body);
    const owner = ownerOf(ctx);
    const previous = (await accounts.listPasskeys(owner.accountId)).find((p) => p.id === id);
    const renamed = previous ? await accounts.renamePasskey(owner.accountId, id, name) : undefined;
    if (!previous || !renamed) throw notFound('not_found', 'No such passkey.');
    await events.record({ kind: 'passkey.renamed', accountId: owner.accountId, ip: ctx.ip, detail: { from: previous.name, to: name } });
    return renamed;
  }

  async function remove(ctx: Context): Promise<void> {
    const id = credentialId(ctx);
    const owner = ownerOf(ctx);
    const name = (await accounts.listPasskeys(owner.accountId)).find((p) => p.id === id)?.name;
    const outcome = await accounts.removePasskey(owner.accountId, id);
    if (outcome === 'not_found') throw notFound('not_found', 'No such passkey.');
    assertThat(
      outcome === 'removed',
      'last_passkey',
      409,
      'This is your only passkey: add another one before removing it, or you could not sign in again.',
    );
    await events.record({
      kind: 'passkey.removed',
      accountId: owner.accountId,
      ip: ctx.ip,
      detail: { passkey: name, credential: id.slice(0, 16) },
    });
  }

  router.get('/console/passkeys', async function showPasskeys(ctx) {
    const passkeys = await accounts.listPasskeys(ownerOf(ctx).accountId);
    const csrf = csrfFor(ctx);
    ctx.type = 'html';
    ctx.body = consolePage({
      pendingApprovals: pendingOf(ctx),
      title: 'Passkeys',
      active: '/console/passkeys',
      csrf,
      notice: noticeFrom(ctx, MESSAGES),
      body: passkeysBody(passkeys, csrf),
      scripts: ['/static/simplewebauthn-browser.umd.js', '/static/console.js'],
    });
  });

  router.get('/console/api/passkeys', async function listPasskeys(ctx) {
    ctx.body = { passkeys: (await accounts.listPasskeys(ownerOf(ctx).accountId)).map(passkeyJson) };
  });

  router.post('/console/api/passkeys/options', ...mutate, recentSignIn, throttle, async function newPasskeyOptions(ctx) {
    const owner = ownerOf(ctx);
    // Excluding the owner's passkeys stops an authenticator from making a second one for the same account (§5.4.3).
    const existing = (await accounts.listPasskeys(owner.accountId)).map((p) => p.id);
    // The passkey manager lists it under the name the owner goes by (display name, else username).
    ctx.body = await ceremonies.registrationOptions(binding(ctx), {
      accountId: owner.accountId,
      exclude: existing,
      name: nameOf(owner.account),
    });
  });

  router.post('/console/api/passkeys', ...mutate, recentSignIn, throttle, async function addPasskey(ctx) {
    const owner = ownerOf(ctx);
    const body = AddBody.parse(ctx.state.body);
    let registered;
    try {
      // Challenge (single use, this session's), origin, RP ID, flags and signature: PasskeyCeremonies (E2, E3, E7).
      registered = await ceremonies.verifyRegistration(binding(ctx), body.credential as never);
      // The challenge was issued to extend this owner's account; it can extend no other.
      assertThat(registered.accountId === owner.accountId, 'passkey_failed', 400, 'The passkey could not be verified.');
    } catch (error) {
      await limiter.fail(failures(ctx));
      await events.record({
        kind: 'passkey.added',
        outcome: 'failure',
        accountId: owner.accountId,
        ip: ctx.ip,
        detail: { reason: (error as AppError).code ?? 'error' },
      });
      throw error;
    }
    const passkey = { ...registered.passkey, name: body.name ?? registered.passkey.name };
    assertThat(await accounts.addPasskey(owner.accountId, passkey), 'passkey_exists', 409, 'This passkey is already registered.');
    await events.record({
      kind: 'passkey.added',
      accountId: owner.accountId,
      ip: ctx.ip,
      detail: { passkey: passkey.name, credential: passkey.id.slice(0, 16) },
    });
    ctx.status = 201;
    ctx.body = passkeyJson((await accounts.findPasskey(passkey.id))!);
  });

  router.patch('/console/api/passkeys/:id', ...mutate, async function renamePasskey(ctx) {
    ctx.body = passkeyJson(await rename(ctx));
  });

  router.delete('/console/api/passkeys/:id', ...mutate, async function removePasskey(ctx) {
    await remove(ctx);
    ctx.body = { removed: true };
  });

  router.post('/console/passkeys/:id/rename', ...mutate, async function renameFromPage(ctx) {
    await rename(ctx);
    backTo(ctx, '/console/passkeys', 'renamed');
  });

  router.post('/console/passkeys/:id/remove', ...mutate, async function removeFromPage(ctx) {
    await remove(ctx);
    backTo(ctx, '/console/passkeys', 'removed');
  });
}
