import type { Connection } from '../connections/store.js';
import type { OwnerProviderStore } from '../upstream/owner-providers.js';
import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';
import type { DeploymentInfo } from '../web/deployment-badge.js';
import type { Config } from '../config.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { Database } from '../db/database.js';
import type { AccountStore } from '../accounts/accounts.js';
import type { EventLog } from '../accounts/events.js';
import type { PasskeyCeremonies } from '../passkeys/ceremonies.js';
import type { RateLimiter } from '../rate-limit.js';
import type { ResourceServices } from '../plugins/services.js';
import type { ScopeCatalog } from '../../scopes/catalog.js';
import type { ClientStore } from '../clients/store.js';
import type { AgentTokens } from '../grants/agent-tokens.js';
import type { AgentServices } from '../agents/agent-services.js';
import type { BrowserSessions } from './browser-sessions.js';
import type { Tool } from '../plugins/plugin.js';
import type { TelegramLinks } from '../accounts/telegram-links.js';
import type { Notifier } from '../notices/notifier.js';
import type { TelegramOutbox } from '../notices/outbox.js';
import type { NoticePreferences } from '../notices/preferences.js';
import { csrfToken, requireCsrf, requireSameOrigin } from '../http/guards.js';
import { ownerOf } from '../accounts/owner-session.js';

/** What every console area gets: dependencies plus the shared request stages. */
export interface ConsoleDeps {
  config: Config;
  logger: Logger;
  provider: Provider;
  db: Database;
  accounts: AccountStore;
  events: EventLog;
  ceremonies: PasskeyCeremonies;
  limiter: RateLimiter;
  cookieKeys: string[];
  /** Connected accounts, policies and held actions (the Connected accounts, Approvals and Connected apps pages). */
  resource: ResourceServices;
  /** The upstream OAuth 2.0 client (src/upstream/index.ts), as far as the console uses it. */
  upstream: ConsoleUpstream;
  /** Decides when an agent's rotated-out secret stops working; default the system clock. */
  clock?: Clock;
  /** The scopes this server knows (scopes/catalog.ts). */
  scopes: ScopeCatalog;
  /** Shared stores, built once in createApp. */
  clients: ClientStore;
  agentTokens: AgentTokens;
  agentServices: AgentServices;
  browserSessions: BrowserSessions;
  /** The tools the MCP server at `config.MCP_URL` serves (plugins' and configured providers'), for /console/mcp. */
  mcpTools: readonly Tool[];
  /** Linking the owner's chat with oauth3's Telegram bot (the Telegram page). */
  telegram: ConsoleTelegram;
  /** Tells the owner things in Telegram (an approval decided here updates its message there). */
  notifier: Notifier;
  /** TEE mode: the compose hash the "Verified deployment" mark shows. */
  deployment?: DeploymentInfo;
}

/** What the Telegram page needs: the links, and the bot's @username when a bot is configured. */
export interface ConsoleTelegram {
  links: TelegramLinks;
  /** Undefined when the operator set no TELEGRAM_BOT_TOKEN; throws when Telegram cannot be reached. */
  botUsername?: () => Promise<string>;
  /** Which notices the owner wants. */
  preferences: NoticePreferences;
  /** What was sent, or could not be (the undelivered list and its Retry). */
  outbox: TelegramOutbox;
}

/** What the console needs from the upstream OAuth 2.0 client: start a connect, and the providers configured. */
export interface ConsoleUpstream {
  /** Keeps state and PKCE on the server and returns the provider's authorization URL to send the owner to. */
  start(accountId: string, providerId: string, returnTo?: string): Promise<string>;
  /** Providers an owner can connect by redirect (built in by plugins, or configured by the operator). */
  providers?(): ReadonlyArray<{ id: string; title?: string; authorizationUrl: string }>;
  /** Revokes an OAuth connection's tokens at the provider (best effort), before the connection is removed. */
  revoke?(connection: Connection): Promise<void>;
  /** The owner's own OAuth apps ("bring your own"); without them the page offers no form to add one. */
  own?: Pick<OwnerProviderStore, 'list' | 'view' | 'save'>;
  /** Removes one of the owner's own OAuth apps and disconnects its account. */
  removeOwn?(accountId: string, providerId: string): Promise<boolean>;
}

export interface ConsoleStages {
  /** For POST/PATCH/DELETE: same origin and the CSRF token bound to this browser session (header or form field). */
  mutate: Middleware[];
  /** The CSRF token to embed in this request's page. */
  csrfFor: (ctx: Context) => string;
}

const subject = (ctx: Context) => `console:${ownerOf(ctx).sessionUid}`;

export function consoleStages(deps: ConsoleDeps): ConsoleStages {
  return {
    mutate: [requireSameOrigin(deps.config.ORIGIN), requireCsrf(deps.cookieKeys, subject)],
    csrfFor: (ctx) => csrfToken(deps.cookieKeys, subject(ctx)),
  };
}

/** Held posts waiting for this owner, counted once per console page request (src/console/routes.ts) for the navigation. */
export const pendingOf = (ctx: { state: Record<string, unknown> }): number => Number(ctx.state.pendingApprovals ?? 0);
