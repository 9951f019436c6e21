import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { lazy } from '../../src/lazy.js';
import { projectRoot } from '../../src/paths.js';
import { startNodeFlags } from '../../bench/node-flags.js';
import { ServerProcess } from '../helpers/replicas.js';

/** Loading at first use (src/lazy.ts), which keeps the server's start short, and the flags npm start runs it with. */
describe('lazy', () => {
  it('loads nothing until asked, once for every caller after', async () => {
    let loads = 0;
    const load = lazy(async () => ({ n: ++loads }));
    expect(loads).toBe(0);
    const [a, b] = await Promise.all([load(), load()]);
    expect(a).toBe(b);
    expect(await load()).toBe(a);
    expect(loads).toBe(1);
  });

  it('tries a failed load again on the next use instead of remembering the failure', async () => {
    let attempts = 0;
    const load = lazy(async () => {
      attempts += 1;
      if (attempts === 1) throw new Error('module missing');
      return 'loaded';
    });
    await expect(load()).rejects.toThrow('module missing');
    await expect(load()).resolves.toBe('loaded');
    await expect(load()).resolves.toBe('loaded');
    expect(attempts).toBe(2);
  });
});

describe("npm start's Node flags", () => {
  it('are the two V8 heap settings the bench and the memory test run the embedded default with', () => {
    expect(startNodeFlags()).toEqual(['--max-semi-space-size=8', '--heap-growing-percent=50']);
  });
});

describe('what a server loads', () => {
  it('never loads grammY (with node-fetch and whatwg-url) without its own bot and before a Telegram call', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-loaded-'));
    const file = path.join(dir, 'packages.txt');
    const server = new ServerProcess({ DATA_DIR: path.join(dir, 'data'), LOADED_PACKAGES_FILE: file }, [
      '--require',
      path.join(projectRoot, 'test/helpers/loaded-packages.cjs'),
    ]);
    try {
      await server.start();
      const base = `http://127.0.0.1:${server.port}`;
      for (const page of ['/', '/.well-known/openid-configuration', '/console', '/developers']) {
        expect((await fetch(`${base}${page}`, { redirect: 'manual' })).status).toBeLessThan(500);
      }
      const loaded = readFileSync(file, 'utf8').split('\n').filter(Boolean);
      // The hook sees what the server loads: the protocol engine and the web framework are there.
      expect(loaded).toEqual(expect.arrayContaining(['oidc-provider', 'koa', 'pino']));
      expect(loaded.filter((name) => ['grammy', 'node-fetch', 'whatwg-url'].includes(name))).toEqual([]);
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
