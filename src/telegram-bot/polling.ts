import { setTimeout as sleep } from 'node:timers/promises';
import type { Api } from 'grammy';
import type { Update } from 'grammy/types';
import type { Database } from '../db/database.js';
import type { Logger } from '../logger.js';
import { loggableTelegramError } from './errors.js';

/** How long one getUpdates call waits for an update before Telegram answers with none. */
export const POLL_SECONDS = 25;
/** Wait before trying again after a failed poll, or while another replica holds the lock. */
const RETRY_MS = 5000;
/** The advisory lock's first key (the project's 733000x series, src/db/migrate.ts); the second is the bot's id. */
export const POLLING_LOCK = 7330013;

export interface PollerDeps {
  db: Database;
  logger: Logger;
  /** A client whose timeout outlasts POLL_SECONDS. */
  api: Api;
  botToken: string;
  allowedUpdates: readonly string[];
  handle(update: Update): Promise<void>;
}

/** grammY types its signal with an abort-controller shim; at run time it is the platform's. */
type ApiSignal = Parameters<Api['getUpdates']>[1];

/**
 * Long polling for development (no public https address for a webhook). Telegram lets one caller poll a bot at a
 * time, so a replica polls only while it holds a Postgres advisory lock, on a connection of its own that lives as
 * long as the loop; the others wait and take over when it goes. `stop()` aborts the call in flight and every wait.
 */
export class Poller {
  private readonly stopping = new AbortController();
  private running?: Promise<void>;

  constructor(private readonly deps: PollerDeps) {}

  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.running;
  }

  private get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.deps.db.session(async (conn) => {
          // Telegram lets one caller poll a bot: the lock is per bot (its id, the token's part before the colon).
          const { rows } = await conn.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS locked', [
            POLLING_LOCK,
            this.deps.botToken.split(':')[0],
          ]);
          if (!rows[0]?.locked) return;
          this.deps.logger.info('telegram bot: polling for updates');
          // A webhook left from an earlier deployment makes getUpdates fail (409).
          await this.deps.api.deleteWebhook({}, this.stopping.signal as unknown as ApiSignal);
          let offset: number | undefined;
          while (!this.stopped) {
            // The lock is this connection's: if it is gone, so is the lock, and polling must stop.
            await conn.query('SELECT 1');
            offset = await this.pollOnce(offset);
          }
        });
      } catch (error) {
        if (this.stopped) return;
        this.deps.logger.warn({ error: loggableTelegramError(error, this.deps.botToken) }, 'telegram bot: polling failed');
      }
      await sleep(RETRY_MS, undefined, { signal: this.stopping.signal }).catch(() => {});
    }
  }

  /** One getUpdates call; handles what it brought, in order, and returns the next offset (which confirms them). */
  private async pollOnce(offset: number | undefined): Promise<number | undefined> {
    const updates = await this.deps.api.getUpdates(
      { offset, timeout: POLL_SECONDS, allowed_updates: [...this.deps.allowedUpdates] as never },
      this.stopping.signal as unknown as ApiSignal,
    );
    let next = offset;
    for (const update of updates) {
      if (this.stopped) break;
      await this.deps.handle(update);
      next = update.update_id + 1;
    }
    return next;
  }
}
