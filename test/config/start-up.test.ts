import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { appHost, metricsHost, loadConfig } from '../../src/config.js';
import { ListenError, listenTcp, METRICS_LISTENER } from '../../src/http/listen.js';
import { freePort, startTestServer } from '../helpers/server.js';
import { seedEmbeddedDatabase } from '../helpers/pglite-template.js';

/** What `npm start` does for a person: a taken port is one line, development stays on this machine, the start tells its steps. */

const root = path.resolve(import.meta.dirname, '../..');
const dirs: string[] = [];
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Holds a TCP port the way another program would. */
async function hold(port: number, host = '127.0.0.1'): Promise<net.Server> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return server;
}
const release = (server: net.Server) => new Promise<void>((resolve) => server.close(() => resolve()));

/** Whether a TCP connection to host:port is accepted. */
function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(3000, () => (socket.destroy(), resolve(false)));
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/**
 * `src/main.ts` in a process of its own, with only the environment given (plus PATH and HOME): node itself with tsx's
 * loader, one process, so a signal reaches the server (npx would not pass it on).
 */
function start(env: Record<string, string>): { child: ChildProcess; output: () => { stdout: string; stderr: string } } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return { child, output: () => ({ stdout, stderr }) };
}

const exited = (child: ChildProcess, ms: number) =>
  new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`still running after ${ms} ms`));
    }, ms);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });

describe('a port that is already taken', () => {
  it.each([
    [
      'METRICS_PORT',
      /^oauth3 cannot start: Port (\d+) on 127\.0\.0\.1 is already in use \(another oauth3, or a Prometheus exporter\?\): set METRICS_PORT to another port, or 0 to turn metrics off\.$/,
    ],
    [
      'PORT',
      /^oauth3 cannot start: Port (\d+) on 127\.0\.0\.1 is already in use \(another oauth3, or another web server\?\): set PORT to another port\.$/,
    ],
  ])(
    '%s: one plain line naming the address and the variable, a non-zero exit, nothing listening, no storage',
    async (variable, line) => {
      const [port, metricsPort] = [await freePort(), await freePort()];
      const taken = await hold(variable === 'PORT' ? port : metricsPort);
      const dataDir = path.join(tempDir('oauth3-clash-'), 'data');
      try {
        const { child, output } = start({ PORT: String(port), METRICS_PORT: String(metricsPort), DATA_DIR: dataDir });
        const code = await exited(child, 60_000);
        const { stdout, stderr } = output();
        expect(code).not.toBe(0);
        expect(stdout).toBe('');
        const lines = stderr.trim().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(line);
        expect(Number(line.exec(lines[0]!)![1])).toBe(variable === 'PORT' ? port : metricsPort);
        // Told before storage was touched, and the other port was not left taken.
        expect(existsSync(dataDir)).toBe(false);
        expect(await connects('127.0.0.1', variable === 'PORT' ? metricsPort : port)).toBe(false);
      } finally {
        await release(taken);
      }
    },
    90_000,
  );

  it('is told the same way when it is taken between the check and the listen', async () => {
    const port = await freePort();
    const taken = await hold(port);
    try {
      const error = await listenTcp(net.createServer(), port, '127.0.0.1', METRICS_LISTENER).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ListenError);
      expect((error as ListenError).code).toBe('EADDRINUSE');
      expect((error as Error).message).toBe(
        `Port ${port} on 127.0.0.1 is already in use (another oauth3, or a Prometheus exporter?): set METRICS_PORT to another port, or 0 to turn metrics off.`,
      );
    } finally {
      await release(taken);
    }
  });

  it('an admin socket that cannot be opened names DATA_DIR, and the app port it had opened is closed again', async () => {
    // Unix socket paths are limited to about 107 bytes: this DATA_DIR is usable for the database, not for the socket.
    const dataDir = path.join(tempDir('oauth3-sock-'), 'd'.repeat(60), 'e'.repeat(60));
    mkdirSync(dataDir, { recursive: true });
    await seedEmbeddedDatabase(dataDir);
    const port = await freePort();
    const error = await startTestServer({ storage: { dataDir }, keepStorage: true, env: { PORT: String(port) } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ListenError);
    expect((error as Error).message).toMatch(
      /^The admin socket .*admin\.sock cannot be opened \(.+\): set DATA_DIR to a writable local folder/,
    );
    expect(await connects('127.0.0.1', port)).toBe(false);
  }, 120_000);
});

describe('where development listens', () => {
  it('binds 127.0.0.1 unless HOST or METRICS_HOST says otherwise; production keeps every interface', () => {
    expect(appHost(loadConfig({}))).toBe('127.0.0.1');
    expect(metricsHost(loadConfig({}))).toBe('127.0.0.1');
    expect(appHost(loadConfig({ NODE_ENV: 'test' }))).toBe('127.0.0.1');
    expect(appHost(loadConfig({ HOST: '0.0.0.0' }))).toBe('0.0.0.0');
    expect(metricsHost(loadConfig({ HOST: '0.0.0.0' }))).toBe('0.0.0.0');
    expect(metricsHost(loadConfig({ METRICS_HOST: '::' }))).toBe('::');
    const production = {
      NODE_ENV: 'production',
      ISSUER: 'https://auth.example.com',
      MASTER_KEY: 'a'.repeat(64),
      COOKIE_KEYS: 'k'.repeat(32),
    };
    expect(appHost(loadConfig(production))).toBeUndefined();
    expect(metricsHost(loadConfig(production))).toBeUndefined();
    expect(metricsHost(loadConfig({ ...production, HOST: '10.0.0.5' }))).toBe('10.0.0.5');
  });

  it('`npm start` tells each step, then the pages to open, and listens on this machine only', async () => {
    const dataDir = tempDir('oauth3-dev-');
    await seedEmbeddedDatabase(dataDir);
    const [port, metricsPort] = [await freePort(), await freePort()];
    const { child, output } = start({ PORT: String(port), METRICS_PORT: String(metricsPort), DATA_DIR: dataDir });
    try {
      const deadline = Date.now() + 120_000;
      while (!output().stderr.includes('Stop with Ctrl+C')) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no ready message\n${JSON.stringify(output())}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const { stderr } = output();
      const steps = stderr.split('\n').filter((l) => l.startsWith('oauth3: '));
      expect(steps).toEqual([
        'oauth3: loading the server…',
        `oauth3: opening the embedded database in ${path.join(dataDir, 'pgdata')} and applying migrations…`,
        'oauth3: loading the signing and cookie keys (made on the first start)…',
        'oauth3: starting the authorization server…',
        expect.stringMatching(/^oauth3: ready in \d+\.\d s$/),
      ]);
      const issuer = `http://localhost:${port}`;
      for (const [label, url] of [
        ['Home', `${issuer}/`],
        ['Console (owners)', `${issuer}/console`],
        ['Developer portal', `${issuer}/developers`],
        ['Discovery', `${issuer}/.well-known/openid-configuration`],
        ['Metrics', `http://127.0.0.1:${metricsPort}/metrics`],
      ])
        expect(stderr).toMatch(new RegExp(`^  ${label!.replace(/[()]/g, '\\$&')} +${url!.replace(/[.?]/g, '\\$&')}$`, 'm'));
      // Each page it names answers.
      for (const page of ['/', '/console', '/developers', '/.well-known/openid-configuration'])
        expect((await fetch(`http://127.0.0.1:${port}${page}`, { redirect: 'manual' })).status).toBeLessThan(400);
      expect((await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).status).toBe(200);

      // This machine only: not on ::1, nor on the machine's other addresses.
      const others = Object.values(os.networkInterfaces())
        .flat()
        .filter((a) => a && !a.internal && a.family === 'IPv4')
        .map((a) => a!.address);
      for (const address of ['::1', ...others]) {
        expect(await connects(address, port)).toBe(false);
        expect(await connects(address, metricsPort)).toBe(false);
      }
    } finally {
      child.kill('SIGTERM');
      await exited(child, 30_000);
    }
  }, 180_000);

  it('a first start creates the database while the server loads, and a second start on the same folder is refused meanwhile', async () => {
    const dataDir = tempDir('oauth3-first-');
    const port = await freePort();
    const { child, output } = start({ PORT: String(port), METRICS_PORT: '0', DATA_DIR: dataDir });
    try {
      const deadline = Date.now() + 150_000;
      while (!output().stderr.includes('oauth3: creating the embedded database')) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no creation step\n${JSON.stringify(output())}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // While the cluster is being made, DATA_DIR is locked: another start says so and does not touch it.
      const second = start({ PORT: String(await freePort()), METRICS_PORT: '0', DATA_DIR: dataDir });
      expect(await exited(second.child, 60_000)).toBe(75);
      expect(second.output().stderr).toMatch(
        /^oauth3 cannot start: The embedded database in \S+ is in use by process \d+ \(oauth3 server\)/m,
      );
      expect(second.output().stderr).not.toMatch(/creating the embedded database/);

      while (!output().stderr.includes('Stop with Ctrl+C')) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no ready message\n${JSON.stringify(output())}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const steps = output()
        .stderr.split('\n')
        .filter((l) => l.startsWith('oauth3: '));
      expect(steps).toEqual([
        `oauth3: creating the embedded database in ${path.join(dataDir, 'pgdata')} (first start only: this takes a few seconds)…`,
        'oauth3: loading the server…',
        `oauth3: opening the embedded database in ${path.join(dataDir, 'pgdata')} and applying migrations…`,
        'oauth3: loading the signing and cookie keys (made on the first start)…',
        'oauth3: starting the authorization server…',
        expect.stringMatching(/^oauth3: ready in \d+\.\d s$/),
      ]);
      expect((await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`)).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await exited(child, 30_000);
    }
  }, 180_000);
});
