// What every browser test file needs: its own `tuki serve` on a temporary
// data folder and a free loopback port, users seeded with the CLI, Debian's
// Chromium, sign-in, screenshots, and cleaning up after itself.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const artifacts = join(here, 'artifacts');
mkdirSync(artifacts, { recursive: true });
const target = process.env.CARGO_TARGET_DIR || '/var/tmp/tuki-target';
export const bin = process.env.TUKI_BIN || join(target, 'debug', 'tuki');
export const PASSWORD = 'correct horse battery';

export const shot = (page, name) => page.screenshot({ path: join(artifacts, name), fullPage: true });

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

/// What Chromium refused under Tuki's Content-Security-Policy, on any page
/// of any context of a browser from launchBrowser: the suites end with
/// assertNoCspViolations, so every page they visit keeps the policy.
export const cspViolations = [];

export async function launchBrowser() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (options) => {
    const context = await newContext(options);
    context.on('page', (page) => page.on('console', (m) => {
      if (m.text().includes('Content Security Policy')) cspViolations.push(`${page.url()}: ${m.text()}`);
    }));
    return context;
  };
  return browser;
}

export function assertNoCspViolations() {
  if (cspViolations.length) {
    throw new Error(`Content-Security-Policy violations:\n${cspViolations.join('\n')}`);
  }
}

/// Starts a desk: `users` are [email, name, role, language?] created with the
/// CLI (password PASSWORD) before the server starts.
export async function startDesk(prefix, users) {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  const tuki = (args, input) =>
    execFileSync(bin, ['--data-dir', dataDir, ...args], { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  for (const [email, name, role, language = 'en'] of users) {
    tuki(['user', 'create', '--email', email, '--name', name, '--role', role, '--language', language, '--password-stdin'],
      PASSWORD + '\n');
  }
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // A 10 MiB file limit, so that the browser tests can pass it cheaply.
  const server = spawn(bin, ['--data-dir', dataDir, '--file-max-bytes', String(10 * 1024 * 1024), 'serve', '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  server.stderr.on('data', (d) => { if (process.env.TUKI_E2E_LOG) process.stderr.write(d); });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('tuki serve did not start')), 20000);
    server.stdout.on('data', (d) => { if (String(d).includes('listening on')) { clearTimeout(timer); resolve(); } });
    server.on('exit', (code) => reject(new Error(`tuki serve exited with ${code}`)));
  });
  const browser = await launchBrowser();

  async function session(email, locale = 'en-GB') {
    const context = await browser.newContext({ locale, baseURL: base });
    const page = await context.newPage();
    await page.goto('/login');
    await page.fill('input[name=email]', email);
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForLoadState();
    return page;
  }

  async function stop() {
    await browser.close().catch(() => {});
    if (server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => {
        const t = setTimeout(() => { server.kill('SIGKILL'); r(); }, 5000);
        server.on('exit', () => { clearTimeout(t); r(); });
      });
    }
    rmSync(dataDir, { recursive: true, force: true });
    assertNoCspViolations();
  }

  return { base, browser, dataDir, tuki, session, stop };
}
