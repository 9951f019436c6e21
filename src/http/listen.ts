import net from 'node:net';
import { appHost, metricsHost, type Config } from '../config.js';

/**
 * Listening on a port or socket, with a refusal a person can act on: a port already taken (another oauth3, a
 * Prometheus exporter) or an address that is not this machine's is one sentence naming the address and the variable
 * that moves it, never a stack trace. The composition root prints `message` alone and exits.
 */
export class ListenError extends Error {
  override readonly name = 'ListenError';
  constructor(
    message: string,
    /** The system's code: EADDRINUSE, EACCES, EADDRNOTAVAIL, … */
    readonly code: string,
  ) {
    super(message);
  }
}

/** What a listener is for, so its refusal says which setting to change. */
export interface ListenPurpose {
  /** The variable that moves the port (PORT, METRICS_PORT). */
  portVariable: string;
  /** The variable that moves the address (HOST, METRICS_HOST). */
  hostVariable: string;
  /** Who is likely holding the port, in a few words. */
  usualSuspects: string;
  /** What else the person may do, after "set PORT to another port" (e.g. "or 0 to turn metrics off"). */
  alternative?: string;
}

/** The app's port (PORT, HOST). */
export const APP_LISTENER: ListenPurpose = {
  portVariable: 'PORT',
  hostVariable: 'HOST',
  usualSuspects: 'another oauth3, or another web server?',
};

/** The Prometheus listener (METRICS_PORT, METRICS_HOST), which a person can also do without. */
export const METRICS_LISTENER: ListenPurpose = {
  portVariable: 'METRICS_PORT',
  hostVariable: 'METRICS_HOST',
  usualSuspects: 'another oauth3, or a Prometheus exporter?',
  alternative: 'or 0 to turn metrics off',
};

const shownHost = (host: string | undefined) => (!host || host === '::' || host === '0.0.0.0' ? 'every interface' : host);

/** The sentence for a failed listen on a TCP port; undefined for errors that are not about the address. */
export function listenProblem(error: unknown, port: number, host: string | undefined, purpose: ListenPurpose): ListenError | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? '';
  const where = shownHost(host);
  const or = purpose.alternative ? `, ${purpose.alternative}` : '';
  switch (code) {
    case 'EADDRINUSE':
      return new ListenError(
        `Port ${port} on ${where} is already in use (${purpose.usualSuspects}): set ${purpose.portVariable} to another port${or}.`,
        code,
      );
    case 'EACCES':
    case 'EPERM':
      return new ListenError(
        `Port ${port} on ${where} needs privileges this process does not have: set ${purpose.portVariable} to a port from 1024 up${or}.`,
        code,
      );
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ListenError(
        `${where} is not an address of this machine: set ${purpose.hostVariable} to one of its addresses, such as 127.0.0.1 or 0.0.0.0.`,
        code,
      );
    case 'EAFNOSUPPORT':
      return new ListenError(`${where} is an IPv6 address and IPv6 is off here: set ${purpose.hostVariable} to an IPv4 address.`, code);
    default:
      return undefined;
  }
}

/** Listens, turning an address problem into a ListenError; other errors pass through as they are. */
export async function listenTcp(server: net.Server, port: number, host: string | undefined, purpose: ListenPurpose): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const fail = (error: Error) => reject(listenProblem(error, port, host, purpose) ?? error);
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      resolve();
    });
  });
}

/**
 * Whether the port can be taken now, tried at once and let go: the start checks its ports before the seconds it spends
 * opening storage, so a clash is told at once. The real listen still reports a port taken in between.
 */
export async function checkPortFree(port: number, host: string | undefined, purpose: ListenPurpose): Promise<void> {
  if (port === 0) return;
  const probe = net.createServer();
  await listenTcp(probe, port, host, purpose);
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}

/** The app's port and, when on, the metrics port: both free now, or the ListenError for the first one taken. */
export async function checkPorts(config: Pick<Config, 'PORT' | 'HOST' | 'METRICS_PORT' | 'METRICS_HOST' | 'NODE_ENV'>): Promise<void> {
  await checkPortFree(config.PORT, appHost(config), APP_LISTENER);
  if (config.METRICS_PORT > 0) await checkPortFree(config.METRICS_PORT, metricsHost(config), METRICS_LISTENER);
}
