/**
 * A real headless Chromium (Debian package `chromium`, driven by playwright-core) for the
 * dashboard tests. No browser = a loud failure naming the install line.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--headless',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
/** The page polls every 1.5 s; a change must show well within this. */
export const SHOWS_WITHIN_MS = 6_000;

export interface Browser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

export async function launchChromium(viewport = { width: 1280, height: 720 }): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is missing at ${CHROMIUM}; install it with: apt-get install -y chromium (the dashboard test needs a real browser)`);
  }
  const userDataDir = await mkdtemp(path.join(tmpdir(), 'waypost-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, viewport });
  return {
    context,
    async close() {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

export interface Opened {
  readonly page: Page;
  readonly dialogs: string[];
  readonly problems: string[];
  /** Main-frame navigations after the first load (a reload would count). */
  readonly navigations: () => number;
}

/** Opens the dashboard at `base` and waits until its first poll rendered. */
export async function openDashboard(context: BrowserContext, base: string): Promise<Opened> {
  const page = await context.newPage();
  const dialogs: string[] = [];
  const problems: string[] = [];
  let loads = 0;
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
  });
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) loads += 1;
  });
  await page.goto(`${base}/`);
  await page.locator('body[data-state="live"]').waitFor({ timeout: SHOWS_WITHIN_MS });
  return { page, dialogs, problems, navigations: () => loads - 1 };
}
