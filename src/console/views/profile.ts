import { html, type SafeHtml } from '../../web/html.js';
import { timeTag } from '../../web/time.js';
import type { ProfileField } from '../../accounts/profile.js';
import { consolePage } from './layout.js';
import { csrfField } from '../../web/forms.js';

export interface ProfilePageInput {
  pendingApprovals?: number;
  csrf: string;
  /** What the fields show: the saved profile, or what the owner just typed when it needs correcting. */
  values: Record<ProfileField, string | null>;
  updatedAt: string | null;
  errors?: Partial<Record<ProfileField, string>>;
  notice?: { kind: 'ok' | 'error'; text: string };
}

interface FieldSpec {
  name: ProfileField;
  label: string;
  type: string;
  hint: string;
  maxlength: number;
  autocomplete: string;
  inputmode?: string;
}

/** The formats in plain words, matching the checks in src/accounts/profile.ts. */
const FIELDS: FieldSpec[] = [
  {
    name: 'display_name',
    label: 'Your name',
    type: 'text',
    maxlength: 64,
    autocomplete: 'name',
    hint: 'How oauth3 greets you on its pages, such as "Signed in as Ada". Up to 64 characters; only you see it.',
  },
  {
    name: 'username',
    label: 'Username',
    type: 'text',
    maxlength: 32,
    autocomplete: 'username',
    hint: '3 to 32 letters, digits, dots, dashes or underscores. Nobody else can have the same name, in any mix of upper and lower case.',
  },
  {
    name: 'email',
    label: 'Email address',
    type: 'email',
    maxlength: 254,
    autocomplete: 'email',
    hint: 'An address like name@example.com (at most 254 characters).',
  },
  {
    name: 'phone',
    label: 'Phone number',
    type: 'tel',
    maxlength: 32,
    autocomplete: 'tel',
    hint: 'International format (E.164): + then country code and number, 8 to 15 digits in all, e.g. +14155550123. Spaces are fine.',
  },
  {
    name: 'wallet_address',
    label: 'Wallet address',
    type: 'text',
    maxlength: 42,
    autocomplete: 'off',
    hint: 'An Ethereum address: 0x and 40 hex digits, all lower case or with its EIP-55 checksum (mixed case). Kept exactly as you enter it.',
  },
];

function field(spec: FieldSpec, value: string | null, error: string | undefined): SafeHtml {
  const id = `profile-${spec.name.replace('_', '-')}`;
  const describedBy = error ? `${id}-error ${id}-hint` : `${id}-hint`;
  return html`<div class="field${error ? ' field-invalid' : ''}">
<label for="${id}">${spec.label} <span class="muted">(optional)</span></label>
<input id="${id}" name="${spec.name}" type="${spec.type}" value="${value ?? ''}" maxlength="${spec.maxlength}" autocomplete="${spec.autocomplete}"${spec.name === 'display_name' ? '' : html` spellcheck="false" autocapitalize="off"`} aria-describedby="${describedBy}"${error ? html` aria-invalid="true"` : ''}>
${error && html`<p class="field-error" id="${id}-error">${error}</p>`}
<p class="hint" id="${id}-hint">${spec.hint}</p>
</div>`;
}

/** /console/profile: the optional contact details, one labelled field each, problems shown beside the field. */
export function profilePage({ csrf, values, updatedAt, errors = {}, notice, pendingApprovals }: ProfilePageInput): string {
  const problems = Object.keys(errors).length;
  const body = html`<h1>Profile</h1>
<p>Everything here is optional. Leave a field empty to remove it. Every change is listed in your <a href="/console/log?kind=profile.updated">access log</a>.</p>
${problems > 0 && html`<p class="notice notice-error" role="alert">Please correct ${problems === 1 ? 'the field' : `the ${problems} fields`} marked below; nothing was saved.</p>`}
<section aria-labelledby="profile-title">
<h2 id="profile-title">Your details</h2>
<form method="post" action="/console/profile" class="profile-form" novalidate>
${csrfField(csrf)}
${FIELDS.map((spec) => field(spec, values[spec.name], errors[spec.name]))}
<button type="submit" class="button primary">Save profile</button>
</form>
<p class="muted">Last changed: ${timeTag(updatedAt, { empty: 'never' })}</p>
</section>`;
  return consolePage({ title: 'Profile', active: '/console/profile', csrf, body, notice, pendingApprovals });
}
