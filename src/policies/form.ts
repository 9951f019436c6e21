import type { ZodError } from 'zod';
import { html, type SafeHtml } from '../web/html.js';
import type { Policy, PolicyInput } from './policy.js';

/**
 * The policy form an owner fills in per app (console, Connected apps) and, in part, on the consent page: what the
 * fields are called, how a form post becomes a PolicyInput, and how a stored policy reads in one line.
 */

/** The form as the owner typed it: lists are one entry per line, the limit is text until parsed. */
export interface PolicyDraft {
  posts_per_day: string;
  blocked_words: string;
  blocked_patterns: string;
  no_links: boolean;
  no_mentions: boolean;
  hold_for_approval: boolean;
  /** Client ids, one per line; absent where the form does not offer it (the consent page). */
  delegate_to?: string;
}

export type PolicyField = keyof PolicyDraft;

/** Each field in the owner's words, also used to say which field a problem is in. */
export const POLICY_LABELS: Record<PolicyField, string> = {
  posts_per_day: 'Posts per day',
  blocked_words: 'Blocked words',
  blocked_patterns: 'Blocked patterns',
  no_links: 'No links',
  no_mentions: 'No mentions',
  hold_for_approval: 'Hold for my approval',
  delegate_to: 'May hand narrower access to these apps (client ids, one per line)',
};

export const draftOf = (policy: Policy): PolicyDraft => ({
  posts_per_day: policy.posts_per_day === null ? '' : String(policy.posts_per_day),
  blocked_words: policy.blocked_words.join('\n'),
  blocked_patterns: policy.blocked_patterns.join('\n'),
  no_links: policy.no_links,
  no_mentions: policy.no_mentions,
  hold_for_approval: policy.hold_for_approval,
  delegate_to: policy.delegate_to.join('\n'),
});

const text = (value: unknown) => (typeof value === 'string' ? value : '');
const lines = (value: string, trim: boolean) =>
  value
    .split(/\r?\n/)
    .map((line) => (trim ? line.trim() : line))
    .filter((line) => line.trim() !== '');

/** A number when the owner typed one, null for an empty box, else the text itself so the schema names the problem. */
function limitOf(value: string): number | null | string {
  if (value.trim() === '') return null;
  return /^\s*\d+\s*$/.test(value) ? Number(value) : value;
}

/** The draft of a form post: field names are `<prefix><field>`, checkboxes are present only when ticked. */
export function draftFromForm(body: Record<string, unknown>, prefix = ''): PolicyDraft {
  const field = (name: PolicyField) => body[`${prefix}${name}`];
  return {
    posts_per_day: text(field('posts_per_day')),
    blocked_words: text(field('blocked_words')),
    blocked_patterns: text(field('blocked_patterns')),
    no_links: field('no_links') === 'on',
    no_mentions: field('no_mentions') === 'on',
    hold_for_approval: field('hold_for_approval') === 'on',
    delegate_to: text(field('delegate_to')),
  };
}

/** What the draft asks for, before the policy schema checks it. Patterns keep their spaces: they may mean them. */
export const inputOf = (draft: PolicyDraft): PolicyInput => ({
  posts_per_day: limitOf(draft.posts_per_day) as number | null,
  blocked_words: lines(draft.blocked_words, true),
  blocked_patterns: lines(draft.blocked_patterns, false),
  no_links: draft.no_links,
  no_mentions: draft.no_mentions,
  hold_for_approval: draft.hold_for_approval,
  delegate_to: lines(draft.delegate_to ?? '', true),
});

/** One sentence for the first problem the schema found: "Blocked patterns, line 2 ("(oops"): must be a valid …". */
export function policyProblem(error: ZodError, input?: unknown): string {
  const issue = error.issues[0];
  if (!issue) return 'The limits are not valid.';
  const [field, index] = issue.path;
  const label = POLICY_LABELS[String(field) as PolicyField] ?? 'Limits';
  if (typeof index !== 'number') return `${label}: ${issue.message}`;
  const list = (input as Record<string, unknown> | undefined)?.[String(field)];
  const entry = Array.isArray(list) && typeof list[index] === 'string' ? ` (“${String(list[index]).slice(0, 60)}”)` : '';
  return `${label}, line ${index + 1}${entry}: ${issue.message}`;
}

/** The stored policy in one line for a table cell: "10 posts a day · no links · held for your approval". */
export function policySummary(policy: Policy): string {
  const parts = [
    policy.posts_per_day !== null && `${policy.posts_per_day} ${policy.posts_per_day === 1 ? 'post' : 'posts'} a day`,
    policy.blocked_words.length > 0 && `${policy.blocked_words.length} blocked ${policy.blocked_words.length === 1 ? 'word' : 'words'}`,
    policy.blocked_patterns.length > 0 &&
      `${policy.blocked_patterns.length} blocked ${policy.blocked_patterns.length === 1 ? 'pattern' : 'patterns'}`,
    policy.no_links && 'no links',
    policy.no_mentions && 'no mentions',
    policy.hold_for_approval && 'held for your approval',
    policy.delegate_to.length > 0 && `may hand on to ${policy.delegate_to.length} ${policy.delegate_to.length === 1 ? 'app' : 'apps'}`,
  ].filter((part): part is string => Boolean(part));
  return parts.length ? parts.join(' · ') : 'No limits';
}

const HINTS: Record<PolicyField, string> = {
  posts_per_day: 'Most posts and messages per day (UTC). Leave empty for no limit.',
  blocked_words: 'One word or phrase per line. A post containing one is refused.',
  blocked_patterns: 'One regular expression per line, matched without regard to case.',
  no_links: 'Refuse posts with a link or a web address.',
  no_mentions: 'Refuse posts that mention someone (@name).',
  hold_for_approval: 'Every post waits on your Approvals page until you approve or reject it.',
  delegate_to:
    'Other apps this app may give part of its access to, never more than it has. Revoking this app revokes theirs. Leave empty to allow none.',
};

export interface PolicyFieldsInput {
  draft: PolicyDraft;
  /** Prefix for ids (unique on the page) and, on the consent page, for field names. */
  idPrefix: string;
  namePrefix?: string;
  /** The fields to show (the consent page shows three); all by default. */
  only?: PolicyField[];
  /** Associates the inputs with a form elsewhere on the page (HTML `form` attribute). */
  form?: string;
}

/** The inputs of the policy form; the caller supplies the <form>, its CSRF field and its button. */
export function policyFields({ draft, idPrefix, namePrefix = '', only, form }: PolicyFieldsInput): SafeHtml {
  const shown = (name: PolicyField) => !only || only.includes(name);
  const id = (name: PolicyField) => `${idPrefix}${name}`;
  const formAttr = form ? html` form="${form}"` : '';
  const hint = (name: PolicyField) => html`<span class="hint" id="${id(name)}-hint">${HINTS[name]}</span>`;
  const list = (name: 'blocked_words' | 'blocked_patterns' | 'delegate_to') =>
    shown(name) &&
    html`<div class="field">
  <label for="${id(name)}">${POLICY_LABELS[name]}</label>
  <textarea id="${id(name)}" name="${namePrefix}${name}" rows="3" aria-describedby="${id(name)}-hint"${name === 'delegate_to' ? html` spellcheck="false" autocapitalize="off"` : ''}${formAttr}>${draft[name] ?? ''}</textarea>
  ${hint(name)}
</div>`;
  const check = (name: 'no_links' | 'no_mentions' | 'hold_for_approval') =>
    shown(name) &&
    html`<div class="field field-check">
  <input id="${id(name)}" type="checkbox" name="${namePrefix}${name}" value="on" aria-describedby="${id(name)}-hint"${draft[name] ? html` checked` : ''}${formAttr}>
  <label for="${id(name)}"><strong>${POLICY_LABELS[name]}</strong> ${hint(name)}</label>
</div>`;

  return html`${
    shown('posts_per_day') &&
    html`<div class="field">
  <label for="${id('posts_per_day')}">${POLICY_LABELS.posts_per_day}</label>
  <input id="${id('posts_per_day')}" name="${namePrefix}posts_per_day" type="number" min="0" max="10000" step="1" inputmode="numeric" value="${draft.posts_per_day}" aria-describedby="${id('posts_per_day')}-hint"${formAttr}>
  ${hint('posts_per_day')}
</div>`
  }
${list('blocked_words')}
${list('blocked_patterns')}
${check('no_links')}
${check('no_mentions')}
${check('hold_for_approval')}
${list('delegate_to')}`;
}
