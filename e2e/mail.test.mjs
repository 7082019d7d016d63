// Email channels in a real browser: an administrator finds the mailboxes and
// the quarantine under Administration, reads a message Tuki could not import
// (its source shown as text, never as markup), retries it and, as it still
// cannot be read, discards it with a note; the message leaves the list but
// its source is kept. A mailbox is added through the form. Outgoing mail to a mail server that refuses it shows
// as failing in the outbox, and "Send now" tries it again at once. An agent
// is refused the pages.
// Same setup as tuki.test.mjs: its own `tuki serve` on a temporary database
// and a free loopback port, users seeded with the CLI, Debian's Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDesk, shot, freePort } from './harness.mjs';

let desk;
const tuki = (args, input) => desk.tuki(args, input);
const session = (email, locale) => desk.session(email, locale);

before(async () => {
  // A mail server nobody listens on: every message fails and is kept.
  process.env.TUKI_SMTP_URL = `smtp://127.0.0.1:${await freePort()}`;
  desk = await startDesk('tuki-e2e-mail-', [
    ['admin@tuki.test', 'Ada Admin', 'admin'],
    ['tia@tuki.test', 'Tia Tier1', 'agent'],
  ]);
});

after(async () => {
  if (desk) await desk.stop();
});

// No From header: Tuki cannot tell who sent it, so it is quarantined. The
// subject carries markup that must stay text.
const unreadable = (n) =>
  `To: help@tuki.test\r\nSubject: <img src=x onerror="window.pwned=1"> printer ${n}\r\n\r\nThe printer is broken ${n}.\r\n`;

test('an administrator sees a quarantined message, retries it and discards it', async () => {
  tuki(['mail', 'add-mailbox', '--name', 'help', '--address', 'help@tuki.test']);
  tuki(['mail', 'ingest', '--mailbox', 'help'], unreadable(1));
  tuki(['mail', 'ingest', '--mailbox', 'help'], unreadable(2));

  const page = await session('admin@tuki.test');
  await page.goto('/admin/users');
  await page.click('nav.tabs >> text=Mailboxes');
  await page.waitForURL(/\/admin\/mailboxes$/);
  assert.match(await page.textContent('#mailboxes'), /help.*help@tuki\.test.*Intake group.*Mail server pipe only.*never/s);
  // A mistake is shown next to its field, and what was typed stays.
  const form = page.locator('#mailbox-form');
  await form.locator('input[name=name]').fill('sales');
  await form.locator('input[name=address]').fill('sales at tuki.test');
  await form.locator('button[type=submit]').click();
  await page.waitForLoadState();
  assert.match(await page.textContent('#address-error'), /Address/);
  assert.equal(await page.locator('#name-error').count(), 0);
  assert.equal(await form.locator('input[name=name]').inputValue(), 'sales');
  await shot(page, 'admin-mailboxes-error.png');
  await form.locator('input[name=address]').fill('sales@tuki.test');
  await form.locator('button[type=submit]').click();
  await page.waitForLoadState();
  assert.match(await page.textContent('#done'), /Mailbox sales <sales@tuki\.test> was added/);
  assert.match(await page.textContent('#mailboxes'), /sales@tuki\.test/);

  await page.click('nav.tabs >> text=Quarantine');
  await page.waitForURL(/\/admin\/quarantine$/);
  const rows = page.locator('#quarantine tbody tr');
  assert.equal(await rows.count(), 2);
  const first = rows.first();
  const id = (await first.getAttribute('id')).replace('quarantine-', '');
  assert.match(await first.textContent(), /help/);
  assert.match(await first.textContent(), /sender/i);
  await shot(page, 'admin-quarantine.png');

  // The message's page: its source as text, with a download of all of it.
  await first.locator(`a[href="/admin/quarantine/${id}"]`).click();
  await page.waitForURL(new RegExp(`/admin/quarantine/${id}$`));
  assert.match(await page.textContent('#raw'), /Subject: <img src=x onerror="window\.pwned=1"> printer 1/);
  assert.equal(await page.locator('#raw img').count(), 0);
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  assert.equal(await page.getAttribute('a[download]', 'href'), `/admin/quarantine/${id}/raw`);
  await shot(page, 'admin-quarantine-message.png');

  // Retry: still unreadable, so it stays with one attempt more.
  await page.click('button:has-text("Retry")');
  await page.waitForLoadState();
  assert.match(await page.textContent('#done'), new RegExp(`Message ${id} still cannot be read`));
  assert.match(await page.textContent('#quarantine-facts'), /Attempts\s*2/);

  // Discard with a note: off the list, kept with who and why.
  await page.fill('#discard-form input[name=note]', 'Printer robot without a sender');
  await page.click('#discard-form button[type=submit]');
  await page.waitForLoadState();
  assert.match(await page.textContent('#done'), new RegExp(`Message ${id} was discarded`));
  assert.equal(await page.locator(`#quarantine-${id}`).count(), 0);
  assert.equal(await page.locator('#quarantine tbody tr[id]').count(), 1);
  await page.goto(`/admin/quarantine/${id}`);
  assert.match(await page.textContent('#quarantine-state'), /Discarded .* by Ada Admin: Printer robot without a sender/);
  assert.match(await page.textContent('#raw'), /The printer is broken 1\./);
  assert.equal(await page.locator('button:has-text("Retry")').count(), 0);
  await shot(page, 'admin-quarantine-discarded.png');

  await page.click('nav.tabs >> text=Outbox');
  await page.waitForURL(/\/admin\/outbox$/);
  assert.match(await page.textContent('h1'), /Outbox/);
  await page.context().close();

  // The pages are for administrators only.
  const agent = await session('tia@tuki.test');
  const res = await agent.goto('/admin/quarantine');
  assert.equal(res.status(), 403);
  await agent.context().close();
});

test('mail a mail server refuses is failing in the outbox; send now tries it again', async () => {
  const token = tuki(['token', 'create', '--email', 'admin@tuki.test', '--name', 'e2e']).trim();
  const api = (method, path, body) => fetch(desk.base + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body && JSON.stringify(body),
  });
  const cora = await api('POST', '/api/v1/users', { email: 'cora@acme.test', name: 'Cora Customer', role: 'customer' });
  assert.equal(cora.status, 201);
  const made = await api('POST', '/api/v1/tickets', {
    subject: 'Scanner <offline>', body: 'The scanner is offline.', requester_id: (await cora.json()).id,
  });
  assert.equal(made.status, 201);
  const { number } = await made.json();

  const page = await session('admin@tuki.test');
  await page.goto('/admin/outbox');
  // The sender tries the acknowledgement within a second or two.
  const row = page.locator('#outbox-failing tbody tr[id]').filter({ hasText: 'cora@acme.test' });
  for (let i = 0; i < 30 && (await row.count()) === 0; i++) {
    await page.waitForTimeout(500);
    await page.reload();
  }
  assert.equal(await row.count(), 1);
  const text = await row.textContent();
  assert.match(text, new RegExp(`\\[Tuki #${number}\\] .*Scanner <offline>`));
  assert.match(text, /retrying/);
  assert.match(text, /1 \/ 25/);
  assert.equal(await row.locator(`a[href="/agent/tickets/${number}"]`).count(), 1);
  assert.notEqual((await row.locator('td.small').textContent()).trim(), '–', 'the last error is shown');
  await shot(page, 'admin-outbox.png');

  await row.locator('button:has-text("Send now")').click();
  await page.waitForLoadState();
  assert.match(await page.textContent('#done'), /to cora@acme\.test will be sent within seconds/);
  // Tried again at once instead of after the backoff.
  const again = page.locator('#outbox-failing tbody tr[id]').filter({ hasText: 'cora@acme.test' });
  for (let i = 0; i < 12 && !/2 \/ 25/.test(await again.textContent()); i++) {
    await page.waitForTimeout(300);
    await page.reload();
  }
  assert.match(await again.textContent(), /2 \/ 25/);
  await page.context().close();
});
