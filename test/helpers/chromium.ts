import { expect } from '@jest/globals';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { projectRoot } from '../../src/paths.js';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const artifactsDir = path.join(projectRoot, 'test', 'artifacts');

/** Debian's Chromium, headless; never a downloaded browser. Missing locally → suites skip; in CI → they fail. */
export function chromiumAvailable(): boolean {
  const available = existsSync(CHROMIUM_PATH);
  if (!available && process.env.CI) throw new Error(`${CHROMIUM_PATH} is missing: CI must install Debian's chromium`);
  return available;
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
}

/**
 * A platform authenticator in the page's browser (Chrome DevTools Protocol WebAuthn domain): resident keys, user
 * verification, automatic presence — what a phone or laptop passkey provides.
 */
export async function addVirtualAuthenticator(
  context: BrowserContext,
  page: Page,
): Promise<{ authenticatorId: string; credentials(): Promise<unknown[]> }> {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return {
    authenticatorId,
    credentials: async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials,
  };
}

/**
 * A fresh context and page in `browser` with a virtual passkey authenticator, collecting what the page logs to the
 * console (tests assert that no CSP violation or script error appears there).
 */
export async function newPasskeyPage(
  browser: Browser,
  viewport: { width: number; height: number } = viewports.desktop,
): Promise<{ context: BrowserContext; page: Page; consoleMessages: string[] }> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const consoleMessages: string[] = [];
  page.on('console', (message) => consoleMessages.push(message.text()));
  await addVirtualAuthenticator(context, page);
  return { context, page, consoleMessages };
}

/** Saves a full-page screenshot under test/artifacts (git-ignored) for a person to look at. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(artifactsDir, { recursive: true });
  const file = path.join(artifactsDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

export const viewports = {
  desktop: { width: 1280, height: 800 },
  phone: { width: 390, height: 844 },
} as const;

/**
 * Signs a new owner up with the page's virtual passkey: `url` sends them to sign in first, and they come back to it.
 * `name` fills the optional display name.
 */
export async function signUpAt(page: Page, url: string, name?: string): Promise<void> {
  await page.goto(url);
  await page.waitForURL(/\/interaction\//);
  if (name) await page.getByLabel('Your name').fill(name);
  await page.getByRole('button', { name: 'Create an account with a passkey' }).click();
  await page.waitForURL(url);
}

/** A screenshot `name-<device>` at every width, each checked to fit the window; the page is left at desktop width. */
export async function shootEveryWidth(page: Page, name: string): Promise<void> {
  for (const [device, viewport] of Object.entries(viewports)) {
    await page.setViewportSize(viewport);
    await screenshot(page, `${name}-${device}`);
    expect({ device, fits: await fitsWidth(page) }).toEqual({ device, fits: true });
  }
  await page.setViewportSize(viewports.desktop);
}

/** Whether the page fits the window's width (no sideways scrolling). */
export const fitsWidth = (page: Page): Promise<boolean> => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

/** Words in the page's tables that the browser broke across two lines ("Revok|e"): a readable table has none. */
export const brokenWords = (page: Page): Promise<string[]> =>
  page.evaluate(() => {
    const broken: string[] = [];
    for (const cell of Array.from(document.querySelectorAll('.table td'))) {
      const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const text = node.textContent ?? '';
        for (const match of text.matchAll(/\S+/g)) {
          const range = document.createRange();
          range.setStart(node, match.index);
          range.setEnd(node, match.index + match[0].length);
          const lines = new Set(Array.from(range.getClientRects()).map((r) => Math.round(r.top)));
          if (lines.size > 1) broken.push(match[0]);
        }
      }
    }
    return broken;
  });

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/**
 * axe-core's serious and critical findings on the page as it is now, as "rule: help (selector, …)" lines. axe runs
 * through DevTools (page.evaluate), so the page's Content Security Policy stays on.
 */
export async function seriousProblems(page: Page): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(context: Document): Promise<{ violations: AxeViolation[] }> } }).axe;
    return (await axe.run(document)).violations;
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
}
