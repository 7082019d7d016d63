// Service levels in a real browser: an administrator creates a business
// calendar and an SLA policy through the pages, an agent registers a phone
// request and sees its due badge, and the "At risk" queue lists the ticket.
// Same setup as tuki.test.mjs: its own `tuki serve` on a temporary database
// and a free loopback port, users seeded with the CLI, Debian's Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDesk, shot } from './harness.mjs';

let desk, browser, base;
const tuki = (args, input) => desk.tuki(args, input);
const session = (email, locale) => desk.session(email, locale);

before(async () => {
  desk = await startDesk('tuki-e2e-sla-', [
    ['admin@tuki.test', 'Ada Admin', 'admin'],
    ['tia@tuki.test', 'Tia Tier1', 'agent'],
  ]);
  ({ browser, base } = desk);
});

after(async () => {
  if (desk) await desk.stop();
});

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
