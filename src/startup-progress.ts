import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Config } from './config.js';
import type { Logger } from './logger.js';

/**
 * What the start is doing, for the person who typed `npm start`: the first start spends seconds creating the embedded
 * database and keys, and a silent terminal looks hung. In development each step is a short plain line on stderr and,
 * once ready, the addresses to open next; in production (and in a TEE) the log stays JSON, the steps at debug level.
 */
export interface StartupReporter {
  step(this: void, what: string): void;
  ready(this: void, metricsUrl?: string): void;
}

/** The pages a person opens first, by label. */
export function startPages(issuer: string): [string, string][] {
  return [
    ['Home', `${issuer}/`],
    ['Console (owners)', `${issuer}/console`],
    ['Developer portal', `${issuer}/developers`],
    ['Discovery', `${issuer}/.well-known/openid-configuration`],
  ];
}

export function startupReporter(
  config: Pick<Config, 'NODE_ENV' | 'MASTER_KEY_SOURCE' | 'ISSUER'>,
  logger: Logger,
  write: (text: string) => void = (text) => void process.stderr.write(text),
  /** Milliseconds since the process began. */
  now: () => number = () => performance.now(),
): StartupReporter {
  const forPeople = config.NODE_ENV !== 'production' && config.MASTER_KEY_SOURCE !== 'dstack';
  if (!forPeople) {
    return {
      step: (what) => logger.debug({ step: what }, `start: ${what}`),
      ready: () => undefined,
    };
  }
  return {
    step: (what) => write(`oauth3: ${what}…\n`),
    ready: (metricsUrl) => {
      const seconds = (now() / 1000).toFixed(1);
      const pages = startPages(config.ISSUER);
      if (metricsUrl) pages.push(['Metrics', metricsUrl]);
      const width = Math.max(...pages.map(([label]) => label.length)) + 2;
      write(
        `oauth3: ready in ${seconds} s\n\n` +
          pages.map(([label, url]) => `  ${label.padEnd(width)}${url}\n`).join('') +
          `\nRegister an app: npm run oauth3 -- clients add --name "My app" --redirect-uri http://localhost:8080/callback\n` +
          `Stop with Ctrl+C.\n`,
      );
    },
  };
}

/** What opening storage is about to do, so a first start's seconds of database creation are not a silent wait. */
export function storageStep(config: Config): string {
  if (config.DATABASE_URL) {
    const url = new URL(config.DATABASE_URL);
    return `connecting to Postgres at ${url.hostname}:${url.port || 5432} and applying migrations`;
  }
  const pgdata = path.join(config.DATA_DIR, 'pgdata');
  return existsSync(pgdata)
    ? `opening the embedded database in ${pgdata} and applying migrations`
    : `creating the embedded database in ${pgdata} (first start only: this takes a few seconds)`;
}
