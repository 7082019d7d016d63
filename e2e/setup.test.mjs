// First start in a real browser: `tuki serve` on an empty database prints a
// one-time setup link; opening it creates the first administrator, who
// lands in the administration pages. The link then no longer works, and a
// restart with an administrator prints none.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { launchBrowser, assertNoCspViolations } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const artifacts = join(here, 'artifacts');
mkdirSync(artifacts, { recursive: true });
const target = process.env.CARGO_TARGET_DIR || '/var/tmp/tuki-target';
const bin = process.env.TUKI_BIN || join(target, 'debug', 'tuki');

let dataDir, browser, port;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

// Starts `tuki serve` and resolves with the process and everything it printed
// on stdout up to and including the line that says it listens (the setup
// link, if any, is printed right after; give it a moment).
async function serve() {
  const server = spawn(bin, ['--data-dir', dataDir, 'serve', '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  server.stderr.on('data', (d) => { if (process.env.TUKI_E2E_LOG) process.stderr.write(d); });
  let out = '';
  server.stdout.on('data', (d) => { out += String(d); });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('tuki serve did not start')), 20000);
    const poll = setInterval(() => {
      if (out.includes('listening on')) { clearInterval(poll); clearTimeout(timer); resolve(); }
    }, 50);
    server.on('exit', (code) => { clearInterval(poll); clearTimeout(timer); reject(new Error(`tuki serve exited with ${code}`)); });
  });
  await new Promise((r) => setTimeout(r, 300));
  return { server, stdout: () => out };
}

async function stop(server) {
  if (server.exitCode !== null) return;
  server.kill('SIGTERM');
  await new Promise((r) => { const t = setTimeout(() => { server.kill('SIGKILL'); r(); }, 5000); server.on('exit', () => { clearTimeout(t); r(); }); });
}

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'tuki-e2e-setup-'));
  port = await freePort();
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  assertNoCspViolations();
});

test('first start: the printed link creates the first administrator, once', async () => {
  const first = await serve();
  try {
    const match = first.stdout().match(/open (http:\/\/\S+\/setup\/\S+) to create the first one/);
    assert.ok(match, `no setup link printed:\n${first.stdout()}`);
    const link = match[1];

    const context = await browser.newContext({ locale: 'en-GB' });
    const page = await context.newPage();
    await page.goto(link);
    assert.match(await page.textContent('h2'), /Create the first administrator/);
    await page.screenshot({ path: join(artifacts, 'setup.png'), fullPage: true });
    await page.fill('input[name=name]', 'Ada Admin');
    await page.fill('input[name=email]', 'ada@tuki.test');
    await page.selectOption('select[name=language]', 'en');
    await page.fill('input[name=password]', 'correct horse battery');
    await page.fill('input[name=password2]', 'a different one');
    await page.click('#setup-form button[type=submit]');
    assert.match(await page.textContent('[role=alert]'), /The passwords differ/);
    await page.fill('input[name=password]', 'correct horse battery');
    await page.fill('input[name=password2]', 'correct horse battery');
    await page.click('#setup-form button[type=submit]');
    await page.waitForURL(/\/admin\/users$/);
    assert.match(await page.textContent('main'), /ada@tuki\.test/);
    assert.match(await page.textContent('#sidebar'), /Queues/);

    // Once only: the link now gets the 404 page, also for someone else.
    const other = await browser.newContext({ locale: 'en-GB' });
    const res = await (await other.newPage()).goto(link);
    assert.equal(res.status(), 404);
    await other.close();
    await context.close();
  } finally {
    await stop(first.server);
  }

  // With an administrator, a restart prints no link, and signing in works.
  const second = await serve();
  try {
    assert.doesNotMatch(second.stdout(), /setup/);
    const context = await browser.newContext({ locale: 'en-GB', baseURL: `http://127.0.0.1:${port}` });
    const page = await context.newPage();
    await page.goto('/login');
    await page.fill('input[name=email]', 'ada@tuki.test');
    await page.fill('input[name=password]', 'correct horse battery');
    await page.click('button[type=submit]');
    await page.waitForURL(/\/agent$/);
    await context.close();
  } finally {
    await stop(second.server);
  }
});
