import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../../src/paths.js';
import { seedEmbeddedDatabase } from '../helpers/pglite-template.js';

interface Run {
  code: number | null;
  out: string;
  err: string;
}

/** An operator's own provider, configured the way the README shows (UPSTREAM_PROVIDERS). */
const GITHUB = JSON.stringify([
  {
    id: 'github',
    title: 'GitHub',
    authorizationUrl: 'https://github.example/login/oauth/authorize',
    tokenUrl: 'https://github.example/login/oauth/access_token',
    clientId: 'gh-client',
    clientSecret: 'gh-secret',
    scopes: ['read:user'],
    apiBaseUrl: 'https://api.github.example',
    allowedPaths: ['/user'],
  },
]);

/**
 * The CLI knows every scope the server knows without a server running (threat model I7): it is its own process, as
 * `npm run oauth3 -- …` is, so nothing a server (or another test in this worker) registered can help it.
 */
describe('the admin CLI without a running server', () => {
  let dataDir: string;

  function oauth3(args: string[], env: Record<string, string> = {}): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'src/cli/oauth3.ts'), ...args], {
        cwd: projectRoot,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '',
          NODE_ENV: 'test',
          DATA_DIR: dataDir,
          LOG_LEVEL: 'silent',
          ...env,
        },
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (chunk) => (out += chunk));
      child.stderr.on('data', (chunk) => (err += chunk));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, out, err }));
    });
  }

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-cli-scopes-'));
    await seedEmbeddedDatabase(dataDir);
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it("registers a machine client for a built-in plugin's scope (tweet.read)", async () => {
    const run = await oauth3(['clients', 'add', '--name', 'Reader', '--grant', 'client_credentials', '--scope', 'tweet.read', '--json']);
    expect(run).toMatchObject({ code: 0, err: '' });
    expect(JSON.parse(run.out)).toMatchObject({ name: 'Reader', grant_types: ['client_credentials'], scope: 'tweet.read' });
  });

  it("registers a client for a configured upstream provider's scope (upstream:<provider>)", async () => {
    const run = await oauth3(
      ['clients', 'add', '--name', 'GitHub app', '--redirect-uri', 'https://app.example/cb', '--scope', 'openid upstream:github', '--json'],
      { UPSTREAM_PROVIDERS: GITHUB },
    );
    expect(run).toMatchObject({ code: 0, err: '' });
    expect(JSON.parse(run.out)).toMatchObject({ scope: 'openid upstream:github' });
  });

  it('names an unknown scope and lists every known one', async () => {
    const run = await oauth3(['clients', 'add', '--name', 'X', '--grant', 'client_credentials', '--scope', 'tweet.read foo'], {
      UPSTREAM_PROVIDERS: GITHUB,
    });
    expect(run.code).toBe(65);
    expect(run.out).toBe('');
    const line = /^--scope: unknown scope 'foo'; known scopes: (.+)$/m.exec(run.err);
    expect(line).not.toBeNull();
    const known = line![1]!.split(', ');
    expect(known).toEqual(
      expect.arrayContaining([
        'openid',
        'profile',
        'offline_access',
        'tweet.read',
        'tweet.post',
        'tweet.delete',
        'telegram.post_any',
        'upstream:github',
      ]),
    );
    expect(known).not.toContain('foo');
  });
});
