// Service levels in a real browser: an administrator creates a business
// calendar and an SLA policy through the pages, an agent registers a phone
// request and sees its due badge, and the "At risk" queue lists the ticket.
// Same setup as tuki.test.mjs: its own `tuki serve` on a temporary database
// and a free loopback port, users seeded with the CLI, Debian's Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const artifacts = join(here, 'artifacts');
mkdirSync(artifacts, { recursive: true });
const target = process.env.CARGO_TARGET_DIR || '/var/tmp/tuki-target';
const bin = process.env.TUKI_BIN || join(target, 'debug', 'tuki');
const PASSWORD = 'correct horse battery';

let dataDir, server, browser, base;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

function tuki(args, input) {
  return execFileSync(bin, ['--data-dir', dataDir, ...args], { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

function user(email, name, role, language = 'en') {
  tuki(['user', 'create', '--email', email, '--name', name, '--role', role, '--language', language, '--password-stdin'], PASSWORD + '\n');
}

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'tuki-e2e-sla-'));
  user('admin@tuki.test', 'Ada Admin', 'admin');
  user('tia@tuki.test', 'Tia Tier1', 'agent');
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(bin, ['--data-dir', dataDir, 'serve', '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  server.stderr.on('data', (d) => { if (process.env.TUKI_E2E_LOG) process.stderr.write(d); });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('tuki serve did not start')), 20000);
    server.stdout.on('data', (d) => { if (String(d).includes('listening on')) { clearTimeout(timer); resolve(); } });
    server.on('exit', (code) => reject(new Error(`tuki serve exited with ${code}`)));
  });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => { const t = setTimeout(() => { server.kill('SIGKILL'); r(); }, 5000); server.on('exit', () => { clearTimeout(t); r(); }); });
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

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

const shot = (page, name) => page.screenshot({ path: join(artifacts, name), fullPage: true });

let number;

test('an administrator creates a business calendar and an SLA policy', async () => {
  const page = await session('admin@tuki.test');
  await page.goto('/admin/groups');
  const group = page.locator('form[action="/admin/groups"]');
  await group.locator('input[name=name]').fill('Helpdesk');
  await group.locator('input[name=intake]').check();
  await group.locator('select[name=members]').selectOption([{ label: 'Tia Tier1' }]);
  await group.locator('button[type=submit]').click();
  await page.waitForLoadState();

  await page.click('nav.tabs >> text=Business calendars');
  const cal = page.locator('#calendar-form');
  // A mistake is shown with the field it is about, and nothing is saved.
  await cal.locator('input[name=name]').fill('Office hours');
  await cal.locator('input[name=time_zone]').fill('Mars/Olympus_Mons');
  await cal.locator('button[type=submit]').click();
  await page.waitForLoadState();
  assert.match(await page.textContent('[role=alert]'), /Time zone/);
  // Around the clock, so that the ticket's due time is simply 4 h later.
  await cal.locator('input[name=name]').fill('Around the clock');
  await cal.locator('input[name=time_zone]').fill('Europe/Helsinki');
  await cal.locator('input[name=always_open]').check();
  await cal.locator('input[name=finnish_holidays]').uncheck();
  await cal.locator('button[type=submit]').click();
  await page.waitForURL(/\/admin\/calendars$/);
  assert.match(await page.textContent('#calendars'), /Around the clock.*Europe\/Helsinki.*Always open/s);
  await shot(page, 'admin-calendars.png');

  await page.click('nav.tabs >> text=SLA policies');
  const pol = page.locator('#policy-form');
  await pol.locator('input[name=name]').fill('Standard');
  await pol.locator('select[name=calendar_id]').selectOption({ label: 'Around the clock' });
  await pol.locator('input[name=first_response_minutes]').fill('240');
  await pol.locator('input[name=resolution_minutes]').fill('2400');
  await pol.locator('input[name=warn_percent]').fill('75');
  await pol.locator('button[type=submit]').click();
  await page.waitForURL(/\/admin\/sla-policies$/);
  const policies = await page.textContent('#policies');
  assert.match(policies, /Standard/);
  assert.match(policies, /240 min/);
  assert.match(policies, /75 %/);
  await shot(page, 'admin-sla-policies.png');

  await page.click('nav.tabs >> text=Escalation rules');
  const rule = page.locator('#escalation-form');
  await rule.locator('input[name=name]').fill('Breach: raise priority');
  await rule.locator('select[name=fires_on]').selectOption('breach');
  await rule.locator('select[name=action]').selectOption('raise_priority');
  await rule.locator('button[type=submit]').click();
  await page.waitForURL(/\/admin\/escalations$/);
  assert.match(await page.textContent('#escalations'), /Breach: raise priority/);
  await page.context().close();
});

test('an agent sees the due badge of a new ticket, and the at-risk queue lists it', async () => {
  const page = await session('tia@tuki.test');
  await page.click('text=New phone request');
  await page.fill('#customer-q', 'Cora');
  await page.waitForSelector('#customer-results');
  await page.click('#new-customer summary');
  await page.fill('input[name=new_name]', 'Cora Customer');
  await page.fill('input[name=new_email]', 'cora@acme.test');
  await page.fill('input[name=subject]', 'Printer jams on every page');
  await page.fill('textarea[name=body]', 'Customer called: the office printer jams.');
  await page.click('#intake-form button[type=submit]');
  await page.waitForURL(/\/agent\/tickets\/\d+$/);
  number = new URL(page.url()).pathname.split('/').pop();

  const badge = page.locator('#ticket-due');
  // Four business hours of an always-open calendar: 4 h (or 3 h 59 min) left.
  assert.match(await badge.textContent(), /^(4 h|3 h 59 min) left$/);
  assert.match(await badge.getAttribute('class'), /sla-running/);
  assert.match(await badge.getAttribute('title'), /^Due \d{4}-\d\d-\d\d \d\d:\d\d$/);
  await shot(page, 'agent-ticket-due.png');

  await page.click('#sidebar >> text=At risk');
  await page.waitForURL(/queue=at-risk/);
  assert.equal(await page.getAttribute('#sidebar a[data-queue="at-risk"]', 'aria-current'), 'page');
  const row = page.locator(`#ticket-list tr[data-href="/agent/tickets/${number}"]`);
  assert.equal(await row.count(), 1);
  assert.match(await row.textContent(), /Printer jams on every page/);
  assert.match(await row.locator('.badge.due').textContent(), /left$/);
  await shot(page, 'agent-at-risk.png');
  await page.context().close();
});
