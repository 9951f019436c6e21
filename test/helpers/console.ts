import type { PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { TestBrowser, csrfFrom, uidFrom } from './browser.js';

/**
 * Signs a browser in to the console the way an owner does: /console → passkey page → back to /console. Signs up
 * a new owner unless `passkey` is 'signin'. Returns the console CSRF token for API calls.
 */
export async function signInToConsole(
  browser: TestBrowser,
  passkey: 'signup' | 'signin' = 'signup',
  path = '/console',
): Promise<{ csrf: string; page: string }> {
  let step = await browser.navigate(path);
  if (step.url.includes('/interaction/')) {
    const uid = uidFrom(step.url);
    const csrf = csrfFrom(await step.response.text());
    const kind = passkey === 'signup' ? 'register' : 'login';
    const options: unknown = await (await browser.postJson(`/interaction/${uid}/passkey/${kind}/options`, {}, csrf)).json();
    const credential =
      kind === 'register'
        ? browser.authenticator.register(options as PublicKeyCredentialCreationOptionsJSON)
        : browser.authenticator.authenticate(options as PublicKeyCredentialRequestOptionsJSON);
    const verify = await browser.postJson(`/interaction/${uid}/passkey/${kind}`, credential, csrf);
    if (verify.status !== 200) throw new Error(`console sign-in failed: ${verify.status} ${await verify.text()}`);
    step = await browser.navigate(((await verify.json()) as { redirectTo: string }).redirectTo);
  }
  if (step.response.status !== 200 || !step.url.includes('/console')) {
    throw new Error(`expected a console page, got ${step.response.status} at ${step.url}`);
  }
  const page = await step.response.text();
  return { csrf: csrfFrom(page), page };
}
