import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { AppError } from '../../errors.js';
import { PROFILE_FIELDS, ProfilePatch, ProfileStore, type Profile, type ProfileField } from '../../accounts/profile.js';
import { consoleStages, type ConsoleDeps, pendingOf } from '../kit.js';
import { backTo, noticeFrom } from '../../web/notices.js';
import { ownerOf } from '../../accounts/owner-session.js';
import { profilePage } from '../views/profile.js';
import { guard } from '../../http/guard.js';

/** The JSON body: the profile fields, plus the CSRF token if a script sends it there rather than in the header. */
const PatchBody = ProfilePatch.extend({ csrf: z.string().optional() }).transform(({ csrf: _csrf, ...patch }) => patch);

/** The form always posts every field; only they are read (the csrf field was checked by `mutate`). */
const FormBody = z
  .record(z.string(), z.string())
  .transform((form) => Object.fromEntries(PROFILE_FIELDS.filter((f) => f in form).map((f) => [f, form[f]])));

const valuesOf = (p: Profile): Record<ProfileField, string | null> => ({
  display_name: p.display_name,
  username: p.username,
  email: p.email,
  phone: p.phone,
  wallet_address: p.wallet_address,
});

/** /console/profile and /console/api/profile: optional name, username, email, phone and wallet address. */
export function profileArea(router: Router, deps: ConsoleDeps): void {
  const { mutate, csrfFor } = consoleStages(deps);
  const profiles = new ProfileStore(deps.db, deps.events);

  const render = async (
    ctx: Context,
    extra: { status?: number; values?: Record<ProfileField, string | null>; errors?: Partial<Record<ProfileField, string>> } = {},
  ) => {
    const saved = await profiles.get(ownerOf(ctx).accountId);
    ctx.status = extra.status ?? 200;
    ctx.type = 'html';
    ctx.body = profilePage({
      pendingApprovals: pendingOf(ctx),
      csrf: csrfFor(ctx),
      values: extra.values ?? valuesOf(saved),
      updatedAt: saved.updated_at,
      errors: extra.errors,
      notice: noticeFrom(ctx, { saved: 'Profile saved.', unchanged: 'Nothing to change: the profile already had these values.' }),
    });
  };

  router.get('/console/profile', async function showProfile(ctx) {
    await render(ctx);
  });

  router.get('/console/api/profile', async function readProfile(ctx) {
    ctx.body = await profiles.get(ownerOf(ctx).accountId);
  });

  router.patch('/console/api/profile', ...mutate, guard({ body: PatchBody }), async function updateProfile(ctx) {
    const { profile, changed } = await profiles.update(ownerOf(ctx).accountId, ctx.state.input.body, ctx.ip);
    ctx.body = { ...profile, changed };
  });

  router.post('/console/profile', ...mutate, async function saveProfileForm(ctx) {
    const form = FormBody.parse(ctx.state.body);
    const typed = { display_name: null, username: null, email: null, phone: null, wallet_address: null, ...form };
    const parsed = ProfilePatch.safeParse(form);
    if (!parsed.success) {
      // Problems go back to the page, each beside its field (aria-describedby), with what the owner typed.
      const errors: Partial<Record<ProfileField, string>> = {};
      for (const issue of parsed.error.issues) {
        const name = issue.path[0] as ProfileField;
        errors[name] ??= issue.message;
      }
      await render(ctx, { status: 400, values: typed, errors });
      return;
    }
    try {
      const { changed } = await profiles.update(ownerOf(ctx).accountId, parsed.data, ctx.ip);
      backTo(ctx, '/console/profile', changed.length ? 'saved' : 'unchanged');
    } catch (error) {
      if (!(error instanceof AppError && error.code === 'username_taken')) throw error;
      await render(ctx, { status: 409, values: typed, errors: { username: error.description } });
    }
  });
}
