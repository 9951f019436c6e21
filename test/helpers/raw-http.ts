import http from 'node:http';
import { basic } from './token-flow.js';

/**
 * A request whose path goes out exactly as written. fetch() parses its URL first, which resolves dot segments and
 * turns `\` into `/`: the very spellings the path tests (docs/threat-model.md J1) must send.
 */
export function rawRequest(
  origin: string,
  pathAndQuery: string,
  init: { method?: string; headers?: Headers | Record<string, string>; body?: string } = {},
): Promise<Response> {
  const { hostname, port } = new URL(origin);
  const headers: Record<string, string> = {};
  new Headers(init.headers).forEach((value, name) => (headers[name] = value));
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, method: init.method ?? 'GET', path: pathAndQuery, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) responseHeaders.append(name, one);
        }
        const status = res.statusCode ?? 500;
        const nullBody = status === 204 || status === 304 || (init.method ?? 'GET') === 'HEAD';
        resolve(new Response(nullBody ? null : Buffer.concat(chunks), { status, headers: responseHeaders }));
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/** True when fetch() would send `pathAndQuery` as something else (dot segments, backslashes). */
export function fetchWouldRewrite(origin: string, pathAndQuery: string): boolean {
  if (!pathAndQuery.startsWith('/')) return false;
  const url = new URL(pathAndQuery, origin);
  return `${url.pathname}${url.search}` !== pathAndQuery;
}

export /** A POST to /token whose body arrives in two parts: the request is in flight until `finish()` sends the rest. */
function slowTokenRequest(port: number, clientId: string, clientSecret: string, agent?: http.Agent) {
  const body = Buffer.from(new URLSearchParams({ grant_type: 'client_credentials', scope: 'tweet.read' }).toString());
  const req = http.request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/token',
    agent: agent ?? false,
    headers: {
      authorization: basic(clientId, clientSecret),
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': body.length,
    },
  });
  const answer = new Promise<{ status: number; connection?: string; body: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  answer.catch(() => undefined);
  const half = Math.floor(body.length / 2);
  req.write(body.subarray(0, half));
  req.flushHeaders();
  return { answer, finish: () => req.end(body.subarray(half)) };
}
