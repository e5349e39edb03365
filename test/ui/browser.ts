/// <reference lib="dom" />
/**
 * The dashboard's browser harness, shared by the browser tests (test/ui/*.test.ts), the
 * screenshots script (scripts/screenshots.mjs) and the benchmark (bench/ui.ts): Debian's Chromium
 * driven by playwright-core, logging in the way a person does, and axe-core's accessibility check.
 * (The DOM lib above types the functions given to page.evaluate, which run in the browser.)
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium (scripts/install-deps.sh --test installs it); STRATUS_CHROMIUM overrides. */
export const CHROMIUM = process.env.STRATUS_CHROMIUM ?? '/usr/bin/chromium';

/** Headless and quiet: no GPU, no sandbox (root in CI), no calls home. */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Whether the browser is installed (the tests skip with a reason when it is not). */
export const hasChromium = (): boolean => existsSync(CHROMIUM);

/** The session-storage key the dashboard keeps its token under (web/README.md). */
export const TOKEN_KEY = 'stratus.token';

/** Starts one browser; the caller closes it. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** A fresh context (own session storage) on the server at `url`, 1280×800, the system theme as given. */
export function newContext(browser: Browser, url: string, opts: { colorScheme?: 'light' | 'dark'; width?: number; height?: number } = {}): Promise<BrowserContext> {
  return browser.newContext({ baseURL: url, viewport: { width: opts.width ?? 1280, height: opts.height ?? 800 }, colorScheme: opts.colorScheme ?? 'light' });
}

/**
 * Opens the dashboard and logs in with `token` through the login form (web/README.md's contract:
 * an "API token" field and a "Log in" button), then waits for the shell's navigation. Resolves with
 * the page; rejects when the navigation does not appear (a wrong token: see loginError).
 */
export async function login(context: BrowserContext, token: string, path = '/ui/'): Promise<Page> {
  const page = await context.newPage();
  await page.goto(path);
  await submitToken(page, token);
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
  return page;
}

/** Goes to `path` (a full page load) and waits for its heading and its lists (no "Loading…" left in main). */
export async function visit(page: Page, path: string): Promise<void> {
  await page.goto(path);
  await page.getByRole('heading', { level: 1 }).waitFor();
  await page.waitForFunction(() => !/Loading/.test(document.querySelector('main')?.textContent ?? ''), undefined, { timeout: 15_000 });
}

/** Fills the login form's token and submits it. */
export async function submitToken(page: Page, token: string): Promise<void> {
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Log in' }).click();
}

const requireHere = createRequire(import.meta.url);
let axeSource: string | undefined;

/** One accessibility violation as a line: rule, impact, how many elements, the first one's selector. */
export interface Violation {
  id: string;
  impact: string;
  help: string;
  targets: string[];
}

/**
 * Runs axe-core on the page as it is now (WCAG 2.1 A and AA rules and axe's best practices) and
 * returns the violations whose impact is serious or critical. The script is evaluated through
 * the DevTools protocol, so the dashboard's CSP does not stop it and the page is not changed.
 */
export async function seriousViolations(page: Page): Promise<Violation[]> {
  axeSource ??= readFileSync(requireHere.resolve('axe-core/axe.min.js'), 'utf8');
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource);
  const result = await page.evaluate(() => (window as unknown as { axe: { run(ctx: Document, opts: object): Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[] }> } }).axe.run(document, { resultTypes: ['violations'] }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact!, help: v.help, targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
}
