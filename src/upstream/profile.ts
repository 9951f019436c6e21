import type { UpstreamProvider } from './provider-config.js';

// eslint-disable-next-line no-control-regex -- control characters are what labels are stripped of
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/g;

/** `data.username` in `{ "data": { "username": "ada" } }`. */
function pick(value: unknown, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>((at, key) => (at && typeof at === 'object' ? (at as Record<string, unknown>)[key] : undefined), value);
}

/**
 * The name the owner recognises their connected account by: the provider's profile field when configured, else the
 * provider's title. A profile that cannot be read does not stop the connect: the label is only a label.
 */
export async function connectionLabel(provider: UpstreamProvider, accessToken: string, timeoutMs: number): Promise<string> {
  const fallback = provider.title ?? provider.id;
  if (!provider.profileUrl || !provider.profileLabelField) return fallback;
  try {
    const res = await (provider.fetch ?? fetch)(provider.profileUrl, {
      headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
      redirect: 'error',
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) return fallback;
    const value = pick(await res.json(), provider.profileLabelField);
    if (typeof value !== 'string' && typeof value !== 'number') return fallback;
    // Shown in the console: one short line, no control characters.
    const label = String(value).replace(CONTROL_CHARACTERS, '').trim().slice(0, 100);
    return label || fallback;
  } catch {
    return fallback;
  }
}
