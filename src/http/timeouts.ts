import type { ServerOptions } from 'node:http';
import type { Config } from '../config.js';

/**
 * Limits on how slowly a client may send a request (threat model H7): the headers within HEADERS_TIMEOUT_MS and the
 * whole request, body included, within REQUEST_TIMEOUT_MS, or Node answers 408 and closes the connection. A client
 * trickling a byte at a time would otherwise hold a connection, and a request handler waiting on its body, for as
 * long as it liked. Node checks these limits every `connectionsCheckingInterval` (30 s by default, longer than
 * the limits themselves): checking at a quarter of the header limit, at most each second, keeps the cut close to
 * the configured time. Answers are not limited here: a request fully received may take as long as its work needs.
 */
export function requestLimits(config: Pick<Config, 'REQUEST_TIMEOUT_MS' | 'HEADERS_TIMEOUT_MS'>): ServerOptions {
  return {
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    headersTimeout: config.HEADERS_TIMEOUT_MS,
    connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(config.HEADERS_TIMEOUT_MS / 4))),
  };
}
