/**
 * Access-log event kinds in the owner's words. Kinds written by other parts of the system that are not listed
 * here still read well: "passkey.renamed" becomes "Passkey renamed".
 */
const LABELS: Record<string, string> = {
  'signin': 'Signed in',
  'signin:failure': 'Sign-in failed',
  'signout': 'Signed out',
  'session.signed_out': 'Signed a browser out',
  'session.signed_out_others': 'Signed out other browsers',
  'account.created': 'Account created',
  'account.delete:failure': 'Deleting the account failed',
  'account.delete:security': 'Deleting the account refused',
  'account.deleted': 'Account deleted',
  'passkey.added': 'Passkey added',
  'passkey.added:failure': 'Adding a passkey failed',
  'passkey.renamed': 'Passkey renamed',
  'passkey.removed': 'Passkey removed',
  'passkey.register:failure': 'Creating an account with a passkey failed',
  'passkey.counter_regression': 'Passkey counter went backwards (possible copied passkey)',
  'consent.granted': 'Consent given',
  'consent.denied': 'Consent refused',
  'app.revoked': 'App access revoked',
  'grant.revoked': 'Access revoked',
  'token.minted': 'Token issued',
  'token.refreshed': 'Token refreshed',
  'token.revoked': 'Token revoked',
  'api.call': 'API call',
  'api.call:failure': 'API call refused',
  'profile.updated': 'Profile updated',
  'connection.added': 'Account connected',
  'connection.removed': 'Account disconnected',
  'policy.updated': 'App limits changed',
  'action.approved': 'Held post approved and sent',
  'action.approved:failure': 'Held post approved, sending failed',
  'action.rejected': 'Held post rejected',
  'agent.registered': 'Agent service registered',
  'agent.revoked': 'Agent service revoked',
  'agent.secret_rotated': 'Agent service secret replaced',
  'developer.app.created': 'App registered (developer portal)',
  'developer.app.updated': 'App details changed (developer portal)',
  'developer.app.deactivated': 'App deactivated (developer portal)',
  'developer.app.reactivated': 'App reactivated (developer portal)',
  'developer.app.deleted': 'App deleted (developer portal)',
  'developer.secret.rotated': 'App secret rotated (developer portal)',
  'developer.secret.revoked': 'Every app secret revoked (developer portal)',
};

function fallback(kind: string): string {
  const words = kind.replace(/[._:-]+/g, ' ').trim();
  return words ? words[0]!.toUpperCase() + words.slice(1) : kind;
}

/** "Signed in", "Sign-in failed", …: the outcome picks a more specific label where one exists. */
export function kindLabel(kind: string, outcome?: string): string {
  return (outcome && outcome !== 'ok' && LABELS[`${kind}:${outcome}`]) || LABELS[kind] || fallback(kind);
}

export function outcomeLabel(outcome: string): string {
  if (outcome === 'ok') return 'Succeeded';
  if (outcome === 'failure') return 'Failed';
  if (outcome === 'security') return 'Security warning';
  return fallback(outcome);
}
