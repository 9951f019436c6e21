// What the sign-in page (passkey.js) and the console (console.js) share: JSON calls to oauth3 with the page's CSRF
// token, and turning any failure into one plain sentence for the owner.

const CANCELLED = 'Passkey request was cancelled.';
const UNREACHABLE = 'Could not reach oauth3. Check your connection and try again.';
const UNEXPECTED = 'Unexpected answer from oauth3. Please try again.';

/** An error the server described in `{ error, error_description }`; its text is meant for the owner. */
export class ServerError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

export function unexpectedAnswer() {
  return new ServerError(UNEXPECTED);
}

/** POSTs JSON same-origin with the CSRF header; resolves to the JSON answer or throws a ServerError. */
export async function postJson(url, body, csrf) {
  let response;
  try {
    response = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrf, accept: 'application/json' },
      body: JSON.stringify(body),
    });
  } catch {
    throw new ServerError(UNREACHABLE);
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ServerError(data?.error_description || `oauth3 could not complete the request (HTTP ${response.status}).`, data?.error);
  }
  if (data === null) throw unexpectedAnswer();
  return data;
}

/** One sentence for the owner, whatever failed: the server, the network, or the browser's passkey prompt. */
export function messageFor(error) {
  if (error instanceof ServerError) return error.message;
  // Dismissed or timed out: WebAuthn §5.1.3 and §5.1.4 report both as NotAllowedError.
  if (error?.name === 'NotAllowedError' || error?.cause?.name === 'NotAllowedError') return CANCELLED;
  if (error?.code === 'ERROR_CEREMONY_ABORTED') return CANCELLED;
  // The authenticator already holds a passkey for this account (excludeCredentials, §6.3.2 step 3).
  if (error?.name === 'InvalidStateError' || error?.code === 'ERROR_AUTHENTICATOR_PREVIOUSLY_REGISTERED') {
    return 'This device already has a passkey for your account. Use another device or security key.';
  }
  return error?.message ? `Passkey error: ${error.message}` : 'Something went wrong with the passkey. Please try again.';
}

/** Shows `message` in a status line (textContent, never innerHTML: server messages are shown as text). */
export function showStatus(status, message) {
  status.textContent = message;
  status.hidden = message === '';
  status.classList.toggle('status-error', message !== '');
}
