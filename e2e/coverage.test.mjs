// Who pays, in a real browser: a customer registers a device with its
// receipt in the portal and the request about it shows "Covered by warranty
// until …"; an agent books time on a contract customer's request and the
// balance drops; the month's statement downloads as CSV with the right
// columns.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startDesk, shot, PASSWORD } from './harness.mjs';

let desk, base;

before(async () => {
  desk = await startDesk('tuki-e2e-coverage-', [
    ['admin@tuki.test', 'Ada Admin', 'admin'],
    ['kaisa@koti.test', 'Kaisa Koti', 'customer'],
  ]);
  ({ base } = desk);
});

after(async () => {
  if (desk) await desk.stop();
});

function api(token) {
  return async (method, path, body) => {
    const r = await fetch(base + path, {
      method,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: body && JSON.stringify(body),
    });
    return { status: r.status, body: await r.json().catch(() => null) };
  };
}

const today = new Date();
const fiDate = (d) => `${d.getDate()}.${d.getMonth() + 1}.${d.getFullYear()}`;

test('a device registered with its receipt makes the request covered by warranty', async () => {
  const admin = api(desk.tuki(['token', 'create', '--email', 'admin@tuki.test', '--name', 'e2e']).trim());
  const product = await admin('POST', '/api/v1/products', {
    name: 'WM-800 Silent', manufacturer: 'Pesu Oy', category: 'Washing machines', warranty_months: 24,
  });
  assert.equal(product.status, 201, JSON.stringify(product.body));
  const card = await admin('POST', '/api/v1/rate-cards', { name: 'Basic', hourly_cents: 9000, is_default: true });
  assert.equal(card.status, 201);

  const page = await desk.session('kaisa@koti.test');
  await page.goto('/portal/devices');
  await page.fill('#device-form input[name=serial]', 'WM-2026-0042');
  await page.selectOption('#device-form select[name=product_id]', { label: 'WM-800 Silent' });
  await page.fill('#device-form input[name=purchased_on]', fiDate(today));
  await page.fill('#device-form input[name=purchased_from]', 'Kodinkone Oy');
  await page.setInputFiles('#device-form input[name=receipt]', {
    name: 'kuitti.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4 receipt of WM-800'),
  });
  await page.click('#device-form button[type=submit]');
  await page.waitForSelector('text=Device WM-2026-0042 was registered.');
  const row = page.locator('#devices tr', { hasText: 'WM-2026-0042' });
  assert.match(await row.innerText(), /WM-800 Silent/);
  assert.equal(await row.locator('a').innerText(), 'kuitti.pdf');

  await page.goto('/portal/new');
  await page.fill('input[name=subject]', 'The drum does not turn');
  await page.fill('textarea[name=body]', 'It hums but the drum stays still.');
  await page.selectOption('select[name=asset_id]', { label: 'WM-2026-0042 – WM-800 Silent' });
  await page.click('form[action="/portal/new"] button[type=submit]');
  await page.waitForURL(/\/portal\/tickets\/\d+/);
  const line = await page.locator('#coverage-line').innerText();
  assert.match(line, /Covered by warranty until \d+ \w+ \d{4}/, line);
  assert.match(line, /WM-2026-0042/);
  await shot(page, 'coverage-portal-warranty.png');
  await page.context().close();
});

test('an agent books time on a contract request, the balance drops, the statement downloads as CSV', async () => {
  const admin = api(desk.tuki(['token', 'create', '--email', 'admin@tuki.test', '--name', 'e2e-contract']).trim());
  const org = await admin('POST', '/api/v1/organisations', { name: 'Sopimus Oy' });
  assert.equal(org.status, 201, JSON.stringify(org.body));
  const user = await admin('POST', '/api/v1/users', {
    email: 'olli@sopimus.test', name: 'Olli Sopimus', role: 'customer', language: 'en', organisation_id: org.body.id, password: PASSWORD,
  });
  assert.equal(user.status, 201, JSON.stringify(user.body));
  const year = today.getFullYear();
  const contract = await admin('POST', '/api/v1/contracts', {
    name: 'Tukipankki', organisation_id: org.body.id, kind: 'hour_bank',
    starts_on: `1.1.${year}`, ends_on: `31.12.${year}`, included_minutes: 120, covers: { everything: true },
  });
  assert.equal(contract.status, 201, JSON.stringify(contract.body));

  const customer = await desk.session('olli@sopimus.test');
  await customer.goto('/portal/new');
  await customer.fill('input[name=subject]', 'Server is slow');
  await customer.fill('textarea[name=body]', 'Everything takes ages since Monday.');
  await customer.click('form[action="/portal/new"] button[type=submit]');
  await customer.waitForURL(/\/portal\/tickets\/\d+/);
  const number = customer.url().split('/').pop();
  assert.match(await customer.locator('#coverage-line').innerText(), /Covered by contract Tukipankki, 2 h left/);
  await customer.context().close();

  const agent = await desk.session('admin@tuki.test');
  await agent.goto(`/agent/tickets/${number}`);
  const box = agent.locator('#coverage');
  await box.locator('#time-form').waitFor();
  assert.match(await box.locator('#coverage-line').innerText(), /2 h left/);
  // The timer fills in the minutes; the agent then books the real time.
  await box.locator('[data-timer-start]').click();
  await box.locator('[data-timer-stop]').click();
  assert.equal(await box.locator('input[name=minutes]').inputValue(), '1');
  await box.locator('input[name=minutes]').fill('45');
  await box.locator('input[name=note]').fill('Disk replaced');
  await box.locator('#time-form button[type=submit]').click();
  await agent.waitForURL(new RegExp(`/agent/tickets/${number}$`));
  await agent.locator('#coverage #time-entries').waitFor();
  assert.match(await agent.locator('#coverage #coverage-line').innerText(), /1 h 15 min left/);
  assert.match(await agent.locator('#coverage #time-entries').innerText(), /Disk replaced/);
  await shot(agent, 'coverage-ticket-time.png');

  const first = new Date(year, today.getMonth(), 1);
  const last = new Date(year, today.getMonth() + 1, 0);
  await agent.goto(`/statements?organisation_id=${org.body.id}&from=${fiDate(first)}&to=${fiDate(last)}`);
  assert.match(await agent.locator('h1').innerText(), /Sopimus Oy/);
  assert.match(await agent.locator('main').innerText(), /Contract Tukipankki/);
  const [download] = await Promise.all([agent.waitForEvent('download'), agent.click('#statement-csv')]);
  const bytes = readFileSync(await download.path());
  assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'UTF-8 with a byte-order mark');
  const rows = bytes.subarray(3).toString('utf8').trim().split('\r\n').map((r) => r.split(';'));
  assert.deepEqual(rows[0], ['Part', 'Request', 'Date', 'Description', 'Quantity', 'Unit', 'Unit price', 'VAT %', 'Net']);
  const work = rows.find((r) => r[0] === 'Tukipankki');
  assert.ok(work, JSON.stringify(rows));
  assert.equal(work[1], `#${number}`);
  assert.equal(work[4], '0.75');
  assert.match(work[3], /Disk replaced/);
  await agent.context().close();
});
