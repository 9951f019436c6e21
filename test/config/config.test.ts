import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, configTable, loadConfig, settings } from '../../src/config.js';
import { freePort } from '../helpers/server.js';

const root = path.resolve(import.meta.dirname, '../..');
const key = (fill: number) => Buffer.alloc(32, fill).toString('base64url');
const cookieKey = 'k'.repeat(32);
const production = { NODE_ENV: 'production', ISSUER: 'https://auth.example.com', MASTER_KEY: key(7), COOKIE_KEYS: cookieKey };

/** Runs loadConfig and returns the ConfigError it must throw. */
function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('loadConfig accepted a bad configuration');
}

/** The one problem line that names `key`, asserting there is exactly one. */
function problemFor(error: ConfigError, key: string): string {
  const lines = error.problems.filter((p) => p.startsWith(`${key}:`));
  expect(lines).toHaveLength(1);
  expect(error.message).toContain(lines[0]!);
  return lines[0]!;
}

describe('loadConfig', () => {
  it('gives a newcomer a working development setup from an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      NODE_ENV: 'development',
      PORT: 3000,
      ISSUER: 'http://localhost:3000',
      RESOURCE_URL: 'http://localhost:3000/api',
      RP_ID: 'localhost',
      ORIGIN: 'http://localhost:3000',
      DATA_DIR: './data',
      DATABASE_POOL_SIZE: 20,
      DATABASE_TIMEOUT_MS: 5000,
      TRUST_PROXY: false,
      ACCESS_TOKEN_TTL: 3600,
      REFRESH_TOKEN_TTL: 14 * 86400,
      AUTHORIZATION_CODE_TTL: 60,
      ID_TOKEN_TTL: 3600,
      INTERACTION_TTL: 600,
      CHALLENGE_TTL: 300,
      RP_NAME: 'oauth3',
      LOG_LEVEL: 'info',
    });
    for (const unset of ['DATABASE_URL', 'REDIS_URL', 'MASTER_KEY', 'COOKIE_KEYS', 'HOST'] as const) expect(config[unset]).toBeUndefined();
  });

  it('derives the resource URL, relying party and origin from ISSUER, without a trailing slash', () => {
    const config = loadConfig({ ISSUER: 'https://auth.example.com:8443/', PORT: '8080', TRUST_PROXY: 'yes' });
    expect(config).toMatchObject({
      ISSUER: 'https://auth.example.com:8443',
      RESOURCE_URL: 'https://auth.example.com:8443/api',
      RP_ID: 'auth.example.com',
      ORIGIN: 'https://auth.example.com:8443',
      PORT: 8080,
      TRUST_PROXY: 1,
    });
  });

  it("derives the MCP server's resource from ISSUER, and keeps the resource API off it", () => {
    expect(loadConfig({ ISSUER: 'https://auth.example.com/' }).MCP_URL).toBe('https://auth.example.com/mcp');
    expect(
      problemFor(configError({ ISSUER: 'https://auth.example.com', RESOURCE_URL: 'https://auth.example.com/mcp/' }), 'RESOURCE_URL'),
    ).toMatch(/must not be https:\/\/auth\.example\.com\/mcp/);
  });

  it('takes MCP_ALLOWED_ORIGINS as origins only, and names a bad entry', () => {
    expect(loadConfig({ MCP_ALLOWED_ORIGINS: 'http://localhost:6274, https://app.example.com' }).MCP_ALLOWED_ORIGINS).toEqual([
      'http://localhost:6274',
      'https://app.example.com',
    ]);
    expect(loadConfig({}).MCP_ALLOWED_ORIGINS).toEqual([]);
    for (const bad of ['https://app.example.com/path', 'app.example.com', 'http://localhost:6274/']) {
      expect(problemFor(configError({ MCP_ALLOWED_ORIGINS: bad }), 'MCP_ALLOWED_ORIGINS')).toMatch(/every entry must be an origin/);
    }
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ PORT: '', DATABASE_URL: '', LOG_LEVEL: '' })).toMatchObject({
      PORT: 3000,
      DATABASE_URL: undefined,
      LOG_LEVEL: 'info',
    });
  });

  it('reports every bad key in one ConfigError, each with how to fix it', () => {
    const bad = {
      PORT: 'eighty',
      DATABASE_URL: 'mysql://db.example/app',
      REDIS_URL: 'http://cache.example',
      TRUST_PROXY: 'maybe',
      ACCESS_TOKEN_TTL: '-5',
      LOG_LEVEL: 'loud',
      MASTER_KEY: 'too-short',
      ISSUER: 'ftp://auth.example.com',
    } as const;
    const error = configError(bad);
    expect(error.problems).toHaveLength(Object.keys(bad).length);
    for (const name of Object.keys(bad) as (keyof typeof bad)[]) expect(problemFor(error, name)).toContain(settings[name].fix);
    expect(error.message).toContain(`${Object.keys(bad).length} problem(s)`);
  });

  it('refuses an ISSUER with a query or fragment', () => {
    expect(problemFor(configError({ ISSUER: 'https://auth.example.com/?tenant=a' }), 'ISSUER')).toMatch(/query or fragment/);
    expect(problemFor(configError({ ISSUER: 'https://auth.example.com/#top' }), 'ISSUER')).toMatch(/query or fragment/);
  });

  it('refuses COOKIE_KEYS shorter than 32 characters, also when only one of several is short', () => {
    for (const value of ['short', `${cookieKey},short`, ' , ']) {
      expect(problemFor(configError({ COOKIE_KEYS: value }), 'COOKIE_KEYS')).toContain(settings.COOKIE_KEYS.fix);
    }
    expect(loadConfig({ COOKIE_KEYS: ` ${cookieKey} , ${'o'.repeat(40)} ` }).COOKIE_KEYS).toEqual([cookieKey, 'o'.repeat(40)]);
  });

  it('accepts a 32-byte MASTER_KEY as base64, base64url or hex and refuses other lengths', () => {
    const bytes = Buffer.alloc(32, 0xfb);
    for (const encoded of [bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('hex')]) {
      expect(loadConfig({ MASTER_KEY: encoded }).MASTER_KEY).toBe(encoded);
    }
    expect(problemFor(configError({ MASTER_KEY: Buffer.alloc(16).toString('base64') }), 'MASTER_KEY')).toContain('openssl rand -base64 32');
  });

  it('reads TRUST_PROXY as off, a number of proxy hops (true is one) or a list of proxy addresses and ranges (threat model J3)', () => {
    const trust = (value: string) => loadConfig({ TRUST_PROXY: value }).TRUST_PROXY;
    for (const off of ['false', 'no', '0', 'FALSE']) expect(trust(off)).toBe(false);
    for (const one of ['true', 'yes', '1']) expect(trust(one)).toBe(1);
    expect(trust('2')).toBe(2);
    expect(trust(' 10.0.0.0/8 , fd00::/8,192.0.2.7 ')).toEqual(['10.0.0.0/8', 'fd00::/8', '192.0.2.7']);
    for (const bad of ['maybe', '11', '10.0.0.0/33', '10.0.0.0/8,proxy.internal', ',', '-1']) {
      expect(problemFor(configError({ TRUST_PROXY: bad }), 'TRUST_PROXY')).toContain(settings.TRUST_PROXY.fix);
    }
    expect(problemFor(configError({ TRUST_PROXY: '10.0.0.0/8,proxy.internal' }), 'TRUST_PROXY')).toContain(
      'proxy.internal is neither an IP address nor a CIDR range',
    );
  });

  describe('with NODE_ENV=production (I4)', () => {
    it('refuses a missing MASTER_KEY, missing COOKIE_KEYS and an http issuer, naming each with its fix', () => {
      const error = configError({ NODE_ENV: 'production', ISSUER: 'http://auth.example.com' });
      expect(error.problems).toHaveLength(3);
      expect(problemFor(error, 'MASTER_KEY')).toContain('openssl rand -base64 32');
      expect(problemFor(error, 'COOKIE_KEYS')).toContain('openssl rand -base64 32');
      expect(problemFor(error, 'ISSUER')).toMatch(/https/);
    });

    it('refuses the generated http://localhost issuer when ISSUER is unset', () => {
      const { ISSUER: _unset, ...rest } = production;
      expect(problemFor(configError(rest), 'ISSUER')).toMatch(/https/);
    });

    it('refuses each missing secret on its own', () => {
      const { MASTER_KEY: _m, ...noMaster } = production;
      const { COOKIE_KEYS: _c, ...noCookies } = production;
      expect(configError(noMaster).problems).toEqual([expect.stringMatching(/^MASTER_KEY:/)]);
      expect(configError(noCookies).problems).toEqual([expect.stringMatching(/^COOKIE_KEYS:/)]);
      expect(configError({ ...production, ISSUER: 'http://auth.example.com' }).problems).toEqual([expect.stringMatching(/^ISSUER:/)]);
    });

    it('reports malformed values and production requirements together in one message', () => {
      const error = configError({ NODE_ENV: 'production', PORT: 'eighty', LOG_LEVEL: 'loud' });
      for (const name of ['PORT', 'LOG_LEVEL', 'MASTER_KEY', 'COOKIE_KEYS', 'ISSUER']) problemFor(error, name);
      expect(error.problems).toHaveLength(5);
    });

    it('starts with an https issuer, a master key and cookie keys', () => {
      expect(loadConfig(production)).toMatchObject({
        NODE_ENV: 'production',
        ISSUER: 'https://auth.example.com',
        ORIGIN: 'https://auth.example.com',
        MASTER_KEY: key(7),
        COOKIE_KEYS: [cookieKey],
      });
    });
  });
});

describe('the real entry point', () => {
  it('exits non-zero in production without keys, naming MASTER_KEY, COOKIE_KEYS and ISSUER, and never listens', async () => {
    const port = await freePort();
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-config-'));
    try {
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_ENV: 'production',
        PORT: String(port),
        DATA_DIR: path.join(dataDir, 'data'),
      };
      const child = spawn('npx', ['tsx', 'src/main.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => (stdout += chunk));
      child.stderr.on('data', (chunk) => (stderr += chunk));
      const code = await new Promise<number | null>((resolve, reject) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`src/main.ts was still running after 30 s\nstdout: ${stdout}\nstderr: ${stderr}`));
        }, 30_000);
        child.on('exit', (exitCode) => {
          clearTimeout(timer);
          resolve(exitCode);
        });
      });
      expect(code).not.toBe(0);
      expect(code).not.toBeNull();
      for (const name of ['MASTER_KEY', 'COOKIE_KEYS', 'ISSUER']) expect(stderr).toContain(`${name}:`);
      expect(stdout + stderr).not.toMatch(/listening/i);
      // It stopped before touching storage or keys: no database, no generated master key.
      expect(existsSync(path.join(dataDir, 'data'))).toBe(false);
      // And nothing took the port.
      const probe = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        () => 'answered',
        () => 'refused',
      );
      expect(probe).toBe('refused');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('the README', () => {
  it('documents exactly the settings of the schema (the table between the config-table markers equals configTable())', () => {
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    const match = /^<!-- config-table:start -->\r?\n([\s\S]*?)\r?\n<!-- config-table:end -->$/m.exec(readme);
    expect(match).not.toBeNull();
    expect(match![1]!.trim()).toBe(configTable());
  });
});
