// The phone channel in a real browser: the telephone system posts a CTI
// `newCall` event with an API token, the console of the agent it rings pops
// up the caller's card, and one click registers a request from the call.
// Same setup as tuki.test.mjs: its own `tuki serve` on a temporary database
// and a free loopback port, users seeded with the CLI, Debian's Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDesk, shot } from './harness.mjs';

let desk, browser, base;
const tuki = (args, input) => desk.tuki(args, input);
const session = (email, locale) => desk.session(email, locale);

before(async () => {
  desk = await startDesk('tuki-e2e-phone-', [
    ['admin@tuki.test', 'Ada Admin', 'admin'],
    ['tia@tuki.test', 'Tia Tier1', 'agent'],
    ['toni@tuki.test', 'Toni Tier2', 'agent'],
  ]);
  ({ browser, base } = desk);
});

after(async () => {
  if (desk) await desk.stop();
});


function api(token) {
  return (method, path, body) => fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body && JSON.stringify(body),
  });
}

test('an incoming call pops up with the customer card; one click registers a phone request', async () => {
  const admin = api(tuki(['token', 'create', '--email', 'admin@tuki.test', '--name', 'e2e']).trim());
  const pbx = api(tuki(['token', 'create', '--email', 'tia@tuki.test', '--name', 'pbx']).trim());
  const org = await admin('POST', '/api/v1/organisations', { name: 'Kuusi Oy' });
  assert.equal(org.status, 201);
  const orgId = (await org.json()).id;
  const made = await admin('POST', '/api/v1/users', {
    email: 'kaisa@kuusi.test', name: 'Kaisa Kuusi', phone: '+358401112233', role: 'customer', organisation_id: orgId,
  });
  assert.equal(made.status, 201);
  const kaisa = await made.json();
  const users = await (await admin('GET', '/api/v1/users?q=tuki.test')).json();
  const staff = (Array.isArray(users) ? users : users.items).filter((u) => u.role === 'agent').map((u) => u.id);
  const group = await admin('POST', '/api/v1/groups', { name: 'Service desk', tier: 1, is_intake: true, members: staff });
  assert.equal(group.status, 201);
  const groupId = (await group.json()).id;
  const earlier = await admin('POST', '/api/v1/tickets', { subject: 'Invoice address wrong', body: 'Please fix.', requester_id: kaisa.id, group_id: groupId });
  assert.equal(earlier.status, 201);

  const page = await session('tia@tuki.test');
  const other = await session('toni@tuki.test');
  await page.goto('/agent');
  await other.goto('/agent');
  await page.waitForTimeout(700); // the pages' event streams are connected

  // The call rings Tia: her console shows the card, Toni's does not.
  const rang = await pbx('POST', '/api/v1/cti/events', {
    event: 'newCall', call_id: 'e2e-call-1', direction: 'in', from: '+358 40 111 2233', to: '+358201234567', user: 'tia@tuki.test',
  });
  assert.equal(rang.status, 200);
  const call = await rang.json();
  const card = page.locator(`#calls #call-${call.id}`);
  await card.waitFor({ timeout: 10000 });
  const text = await card.textContent();
  assert.match(text, /\+358401112233/);
  assert.match(text, /Kaisa Kuusi/);
  assert.match(text, /Kuusi Oy/);
  assert.match(text, /Invoice address wrong/);
  await shot(page, 'phone-call-card.png');
  await other.waitForTimeout(500);
  assert.equal(await other.locator('#calls .call-card').count(), 0);

  // An unknown caller ringing nobody in particular reaches every console,
  // and the card goes away when the call ends.
  const unknown = await (await pbx('POST', '/api/v1/cti/events', {
    event: 'newCall', call_id: 'e2e-call-2', from: '+358409998877', to: '+358201234567',
  })).json();
  const unknownCard = other.locator(`#calls #call-${unknown.id}`);
  await unknownCard.waitFor({ timeout: 10000 });
  assert.match(await unknownCard.textContent(), /Unknown caller/);
  assert.equal((await pbx('POST', '/api/v1/cti/events', { event: 'hangup', call_id: 'e2e-call-2', cause: 'cancel' })).status, 200);
  await unknownCard.waitFor({ state: 'detached', timeout: 10000 });
  await page.locator(`#calls #call-${unknown.id}`).waitFor({ state: 'detached', timeout: 10000 });

  // One click: the request is registered from the call and opens.
  await Promise.all([
    page.waitForURL(/\/agent\/tickets\/\d+$/),
    card.getByRole('button', { name: 'Register request from this call' }).click(),
  ]);
  await page.waitForSelector(':text("Phone call from +358401112233")');
  const logged = await (await pbx('GET', `/api/v1/calls/${call.id}`)).json();
  assert.ok(logged.ticket_id);
  const ticket = await (await pbx('GET', `/api/v1/tickets/${logged.ticket_id}`)).json();
  assert.equal(ticket.channel, 'phone');
  assert.equal(ticket.requester_id, kaisa.id);
  assert.ok(page.url().endsWith(`/agent/tickets/${ticket.number}`));
  await shot(page, 'phone-call-ticket.png');
  await page.context().close();
  await other.context().close();
});
