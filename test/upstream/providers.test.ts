import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config.js';
import { PluginRegistry } from '../../src/plugins/registry.js';
import { loadUpstreamProviders } from '../../src/upstream/providers.js';

const good = {
  id: 'github',
  authorizationUrl: 'https://github.com/login/oauth/authorize',
  tokenUrl: 'https://github.com/login/oauth/access_token',
  clientId: 'abc',
  apiBaseUrl: 'https://api.github.com',
  allowedPaths: ['/user'],
};

/** The operator's providers, read at start: a bad entry stops the start with one message naming what to fix. */
function problemsOf(env: Record<string, string>): string[] {
  try {
    loadUpstreamProviders(loadConfig({ NODE_ENV: 'test', ...env }), new PluginRegistry([]));
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('upstream providers from configuration', () => {
  it('reads a provider from UPSTREAM_PROVIDERS with its defaults', () => {
    const [github] = loadUpstreamProviders(
      loadConfig({ NODE_ENV: 'test', UPSTREAM_PROVIDERS: JSON.stringify([good]) }),
      new PluginRegistry([]),
    );
    expect(github).toMatchObject({ id: 'github', usePkce: true, tokenAuthMethod: 'basic', scopeSeparator: ' ', allowedPaths: ['/user'] });
  });

  it('names text that is not JSON, and JSON that is not an array', () => {
    expect(problemsOf({ UPSTREAM_PROVIDERS: '[{"id":' })).toEqual(['UPSTREAM_PROVIDERS: is not valid JSON']);
    expect(problemsOf({ UPSTREAM_PROVIDERS: JSON.stringify(good) })).toEqual(['UPSTREAM_PROVIDERS: must be a JSON array of providers']);
  });

  it('names the provider and the field of every bad entry', () => {
    const problems = problemsOf({
      UPSTREAM_PROVIDERS: JSON.stringify([{ ...good, tokenUrl: 'ftp://x', allowedPaths: ['user'] }, { id: 'Bad Id' }]),
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^UPSTREAM_PROVIDERS: provider "github": tokenUrl: /),
        expect.stringMatching(/^UPSTREAM_PROVIDERS: provider "github": allowedPaths\.0: /),
        expect.stringMatching(/^UPSTREAM_PROVIDERS: provider "Bad Id": id: /),
        expect.stringMatching(/^UPSTREAM_PROVIDERS: provider "Bad Id": clientId: /),
      ]),
    );
  });

  it('refuses two providers with one id, across the variable and the file', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-providers-'));
    const file = path.join(dir, 'providers.json');
    writeFileSync(file, JSON.stringify([good]));
    expect(problemsOf({ UPSTREAM_PROVIDERS: JSON.stringify([good]), UPSTREAM_PROVIDERS_FILE: file })).toEqual([
      `UPSTREAM_PROVIDERS_FILE (${file}): provider "github" is defined twice; give each provider its own id`,
    ]);
  });

  it('names a file it cannot read', () => {
    expect(problemsOf({ UPSTREAM_PROVIDERS_FILE: '/nonexistent/providers.json' })).toEqual([
      'UPSTREAM_PROVIDERS_FILE: cannot read /nonexistent/providers.json',
    ]);
  });
});
