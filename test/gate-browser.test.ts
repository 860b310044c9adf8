import { accessSync, constants } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATE_CHART_IDS, gateReportHtml } from '../src/report/gate-html.js';
import { gateFixture } from './helpers/gate-fixture.js';

/*
 * The gate's HTML report in a real browser (issue 7, item 3): headless Chromium driven by
 * playwright-core (which downloads no browser) opens the report from a file:// URL, and the test
 * checks that the charts render with real size, the verdict shows, the console stays clean and
 * the page asks the network for nothing. Chromium comes from the system (Debian:
 * `apt-get install chromium-headless-shell`, or `chromium`) or from OPE_CHROMIUM; without one the
 * test is skipped, not failed. With OPE_WRITE_SCREENSHOT=1 it also writes the README's screenshot.
 */

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const SCREENSHOT = join(REPO, 'notebooks', 'out', 'gate-report', 'screenshot.png');
const SCREENSHOT_MAX_BYTES = 300 * 1024;
const VIEWPORT = { width: 1100, height: 900 };

/** Where Debian's packages put Chromium: the headless shell first (smaller, made for this), then the full browser. */
const CHROMIUM_PATHS = [
  '/usr/lib/chromium/headless_shell',
  '/usr/lib/chromium/chromium-headless-shell',
  '/usr/bin/chromium-headless-shell',
  '/usr/bin/chromium',
  '/usr/lib/chromium/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
];

const isExecutable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** OPE_CHROMIUM when set (it must then exist: a wrong explicit path is an error, not a skip), else the first known path present. */
function findChromium(): string | undefined {
  const explicit = process.env.OPE_CHROMIUM;
  if (explicit !== undefined && explicit !== '') {
    if (!isExecutable(explicit)) throw new Error(`OPE_CHROMIUM=${explicit} is not an executable file`);
    return explicit;
  }
  return CHROMIUM_PATHS.find(isExecutable);
}

const CHROMIUM = findChromium();
const SKIP_MESSAGE =
  'gate-browser: no Chromium found, browser test skipped. Install one with `apt-get install -y chromium-headless-shell` ' +
  `(or \`chromium\`), or set OPE_CHROMIUM=/path/to/chrome. Looked in: ${CHROMIUM_PATHS.join(', ')}`;
if (CHROMIUM === undefined) console.warn(SKIP_MESSAGE);

describe.skipIf(CHROMIUM === undefined)(`gate report in headless Chromium (${CHROMIUM ?? 'not installed'})`, () => {
  let browser: Browser;
  let dir: string;
  let url: string;

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    dir = await mkdtemp(join(tmpdir(), 'ope-gate-browser-'));
    const file = join(dir, 'report.html');
    await writeFile(file, await gateReportHtml(gateFixture()));
    url = pathToFileURL(file).href;
  });

  afterAll(async () => {
    await browser?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  /** Opens the report; returns the console errors, page errors and every request other than the page itself. */
  async function open(page: Page): Promise<{ errors: string[]; requests: string[] }> {
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error' || msg.type() === 'warning') errors.push(`console.${msg.type()}: ${msg.text()}`);
    });
    page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
    // Anything the page asks for beyond its own file is counted and refused.
    await page.route('**/*', async (route) => {
      const u = route.request().url();
      if (u === url) return route.continue();
      requests.push(u);
      return route.abort();
    });
    page.on('request', (req) => {
      if (req.url() !== url && !requests.includes(req.url())) requests.push(req.url());
    });
    await page.goto(url, { waitUntil: 'load' });
    return { errors, requests };
  }

  it('renders the verdict and every chart with a real size, no console errors and no network requests', async () => {
    const context = await browser.newContext({ viewport: VIEWPORT });
    const page = await context.newPage();
    try {
      const { errors, requests } = await open(page);

      const verdict = page.locator('#verdict');
      await expect.poll(() => verdict.isVisible()).toBe(true);
      expect(await verdict.getAttribute('data-colour')).toBe('red');
      const text = await verdict.innerText();
      expect(text).toContain('RED');
      expect(text).toContain('hold');
      const box = await verdict.boundingBox();
      expect(box?.width).toBeGreaterThan(300);

      for (const id of GATE_CHART_IDS) {
        const svg = page.locator(`#${id} svg`);
        expect(await svg.count(), id).toBe(1);
        const b = await svg.boundingBox();
        expect(b, id).not.toBeNull();
        expect(b?.width, id).toBeGreaterThan(200);
        expect(b?.height, id).toBeGreaterThan(80);
        // Inside the viewport's width: the grid and max-width keep charts from overflowing.
        expect((b?.x ?? 0) + (b?.width ?? 0), id).toBeLessThanOrEqual(VIEWPORT.width);
        // The marks themselves have geometry (not just an empty frame).
        const marks = await page.$$eval(`#${id} svg [aria-roledescription="point"], #${id} svg [aria-roledescription="bar"]`, (els) =>
          els.map((el) => {
            const r = el.getBoundingClientRect();
            return r.width * r.height;
          }),
        );
        expect(marks.length, id).toBeGreaterThan(0);
        for (const area of marks) expect(area, id).toBeGreaterThan(0);
      }

      // The checks and the slices are in the DOM as tables with a row each.
      expect(await page.locator('tr.check').count()).toBe(9);
      expect(await page.locator('tr.slice.worse').count()).toBe(1);

      expect(errors).toEqual([]);
      expect(requests).toEqual([]);

      if (process.env.OPE_WRITE_SCREENSHOT === '1') await writeScreenshot();
    } finally {
      await context.close();
    }
  });

  it('catches a fetch the page tries (so the empty list above means something), which the CSP refuses', async () => {
    const context = await browser.newContext({ viewport: VIEWPORT });
    const page = await context.newPage();
    try {
      const { errors, requests } = await open(page);
      expect(requests).toEqual([]);
      await page.evaluate(() => {
        const img = document.createElement('img');
        img.src = 'https://example.invalid/pixel.png';
        document.body.appendChild(img);
      });
      await expect.poll(() => requests.length).toBeGreaterThan(0);
      expect(requests).toEqual(['https://example.invalid/pixel.png']);
      // The page's Content-Security-Policy (default-src 'none') refuses it and says so on the console.
      await expect.poll(() => errors.join('\n')).toMatch(/Content Security Policy/);
    } finally {
      await context.close();
    }
  });

  /**
   * The README's screenshot: the full page at a 1100 px wide viewport; when the PNG would exceed
   * 300 KB the device scale steps down (the layout stays that of 1100 CSS px, the image gets fewer pixels).
   */
  async function writeScreenshot(): Promise<void> {
    let png: Buffer | undefined;
    for (const deviceScaleFactor of [1, 0.9, 0.8, 0.75, 0.66]) {
      const context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor });
      try {
        const page = await context.newPage();
        await open(page);
        png = await page.screenshot({ fullPage: true, type: 'png' });
      } finally {
        await context.close();
      }
      if (png.length <= SCREENSHOT_MAX_BYTES) break;
    }
    expect(png).toBeDefined();
    expect((png as Buffer).length).toBeLessThanOrEqual(SCREENSHOT_MAX_BYTES);
    await mkdir(dirname(SCREENSHOT), { recursive: true });
    await writeFile(SCREENSHOT, png as Buffer);
  }
});
