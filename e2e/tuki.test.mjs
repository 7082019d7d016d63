// Tuki in a real browser: starts `tuki serve` on a temporary database and a
// free loopback port, seeds users with the CLI, and drives Debian's Chromium
// through playwright-core. Screenshots go to e2e/artifacts/ (not committed).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDesk, shot, PASSWORD } from './harness.mjs';

let desk, browser, base;
const tuki = (args, input) => desk.tuki(args, input);
const session = (email, locale) => desk.session(email, locale);

before(async () => {
  desk = await startDesk('tuki-e2e-', [
    ['admin@tuki.test', 'Ada Admin', 'admin'],
    ['tia@tuki.test', 'Tia Tier1', 'agent'],
    ['toni@tuki.test', 'Toni Tier2', 'agent'],
    ['fiia@tuki.test', 'Fiia Suomi', 'agent', 'fi'],
  ]);
  ({ browser, base } = desk);
});

after(async () => {
  if (desk) await desk.stop();
});

let ticketUrl, inviteLink, number;

test('an administrator sets up organisations and groups by tier', async () => {
  const page = await session('admin@tuki.test');
  await page.goto('/admin/organisations');
  for (const name of ['Acme Oy', 'Other Org']) {
    await page.fill('input[name=name]', name);
    await page.click('form[action="/admin/organisations"] button[type=submit]');
  }
  await page.goto('/admin/groups');
  const group = async (name, tier, intake, members) => {
    const form = page.locator('form[action="/admin/groups"]');
    await form.locator('input[name=name]').fill(name);
    await form.locator('select[name=tier]').selectOption(String(tier));
    if (intake) await form.locator('input[name=intake]').check();
    await form.locator('select[name=members]').selectOption(members.map((label) => ({ label })));
    await form.locator('button[type=submit]').click();
    await page.waitForLoadState();
  };
  await group('Helpdesk', 1, true, ['Tia Tier1', 'Fiia Suomi']);
  await group('Specialists', 2, false, ['Toni Tier2']);
  const text = await page.textContent('main');
  assert.match(text, /Helpdesk/);
  assert.match(text, /Specialists/);
  await shot(page, 'admin-groups.png');
  await page.context().close();
});

test('tier 1 registers a phone request for a new customer, notes and transfers it', async () => {
  const page = await session('tia@tuki.test');
  await shot(page, 'agent-queue-empty.png');
  await page.click('text=New phone request');
  assert.equal(await page.inputValue('select[name=channel]'), 'phone');
  await page.fill('#customer-q', 'Cora');
  await page.waitForSelector('#customer-results');
  await page.click('#new-customer summary');
  await page.fill('input[name=new_name]', 'Cora Customer');
  await page.fill('input[name=new_email]', 'cora@acme.test');
  await page.fill('input[name=new_phone]', '+358 40 123 4567');
  await page.selectOption('select[name=organisation_id]', { label: 'Acme Oy' });
  await page.selectOption('select[name=new_language]', 'en');
  await page.fill('input[name=subject]', 'Printer jams on every page');
  await page.fill('textarea[name=body]', 'Customer called: the office printer jams.');
  await shot(page, 'agent-intake.png');
  await page.click('#intake-form button[type=submit]');
  await page.waitForURL(/\/agent\/tickets\/\d+$/);
  ticketUrl = new URL(page.url()).pathname;
  number = ticketUrl.split('/').pop();

  await page.check('input[name=kind][value=note]');
  await page.fill('#composer textarea[name=body]', 'Checked the driver, not the cause.');
  await page.click('#composer button[type=submit]');
  await page.waitForLoadState();
  assert.match(await page.textContent('#timeline'), /Checked the driver/);

  await page.selectOption('#transfer-form select[name=group_id]', { label: 'Specialists (tier 2)' });
  await page.fill('#transfer-form input[name=reason]', 'Needs a printer specialist');
  await page.click('#transfer-form button[type=submit]');
  await page.waitForLoadState();
  assert.match(await page.textContent('#timeline'), /Needs a printer specialist/);
  assert.match(await page.textContent('#ticket-group'), /Specialists/);

  await page.click('text=Invite requester to the portal');
  inviteLink = await page.inputValue('#invite-link');
  assert.match(inviteLink, /\/invite\//);
  await shot(page, 'agent-ticket.png');
  await page.context().close();
});

test('tier 2 sees it in the queue and replies', async () => {
  const page = await session('toni@tuki.test');
  await page.click('#sidebar a:has-text("Specialists")');
  await page.waitForLoadState();
  assert.match(await page.textContent('#ticket-list'), /Printer jams on every page/);
  // Keyboard: j selects the first row, Enter opens it.
  await page.keyboard.press('j');
  await shot(page, 'agent-queue.png');
  await page.keyboard.press('Enter');
  await page.waitForURL(new RegExp(`/agent/tickets/${number}$`));
  await page.fill('#composer textarea[name=body]', 'Please open tray 2 and remove the torn sheet.');
  await page.click('#composer button[type=submit]');
  await page.waitForLoadState();
  assert.match(await page.textContent('#timeline'), /remove the torn sheet/);
  await page.context().close();
});

test('the customer accepts the invitation, reads the reply, answers and rates after resolution', async () => {
  const context = await browser.newContext({ locale: 'en-GB', baseURL: base });
  const page = await context.newPage();
  await page.goto(inviteLink);
  await page.fill('input[name=password]', PASSWORD);
  await page.fill('input[name=password2]', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/portal$/);
  await shot(page, 'portal-list.png');
  await page.click('text=Printer jams on every page');
  const body = await page.textContent('main');
  assert.match(body, /remove the torn sheet/);
  assert.doesNotMatch(body, /Checked the driver/, 'internal notes stay internal');
  await page.fill('#reply-form textarea[name=body]', 'Done, it prints again. Thanks!');
  await page.click('#reply-form button[type=submit]');
  await page.waitForLoadState();
  assert.match(await page.textContent('main'), /it prints again/);

  // Tier 2 resolves it.
  const agent = await session('toni@tuki.test');
  await agent.goto(ticketUrl);
  await agent.selectOption('#update-form select[name=state]', 'resolved');
  await agent.click('#update-form button[type=submit]');
  await agent.waitForLoadState();
  assert.match(await agent.textContent('#ticket-state'), /Resolved/);
  await agent.context().close();

  await page.reload();
  await page.check('input[name=score][value="4"]');
  await page.fill('#rating textarea[name=comment]', 'Quick help');
  await page.click('#rating button[type=submit]');
  await page.waitForLoadState();
  assert.match(await page.textContent('#rating'), /You rated 4 \/ 5/);
  await shot(page, 'portal-ticket.png');

  // A form posted without the CSRF token is refused.
  const refused = await page.request.post(`/portal/tickets/${number}/reply`, { form: { body: 'forged' } });
  assert.equal(refused.status(), 403);
  await page.goto(`/portal/tickets/${number}`);
  assert.doesNotMatch(await page.textContent('main'), /forged/);
  await context.close();
});

test('tier 1 still sees the transferred ticket as a follower', async () => {
  const page = await session('tia@tuki.test');
  await page.goto('/agent?queue=following');
  await page.goto(ticketUrl);
  assert.equal(new URL(page.url()).pathname, ticketUrl);
  assert.match(await page.textContent('#ticket-followers'), /Tia Tier1/);
  await page.context().close();
});

test("a customer gets a 404 page for another organisation's ticket", async () => {
  // An administrator creates a customer of Other Org, who files a request.
  const admin = await session('admin@tuki.test');
  await admin.goto('/admin/users');
  const form = admin.locator('#new-user');
  await form.locator('input[name=name]').fill('Olli Other');
  await form.locator('input[name=email]').fill('olli@other.test');
  await form.locator('select[name=language]').selectOption('en');
  await form.locator('select[name=organisation_id]').selectOption({ label: 'Other Org' });
  await form.locator('button[type=submit]').click();
  await admin.waitForLoadState();
  const link = await admin.inputValue('#invite-link');
  await shot(admin, 'admin-users.png');
  await admin.context().close();

  const olliCtx = await browser.newContext({ locale: 'en-GB', baseURL: base });
  const olli = await olliCtx.newPage();
  await olli.goto(link);
  await olli.fill('input[name=password]', PASSWORD);
  await olli.fill('input[name=password2]', PASSWORD);
  await olli.click('button[type=submit]');
  await olli.goto('/portal/new');
  await olli.fill('input[name=subject]', 'Secret of Other Org');
  await olli.fill('textarea[name=body]', 'Only for us.');
  await olli.click('form[action="/portal/new"] button[type=submit]');
  await olli.waitForURL(/\/portal\/tickets\/\d+$/);
  const other = new URL(olli.url()).pathname;
  await olliCtx.close();

  const cora = await session('cora@acme.test');
  const res = await cora.goto(other);
  assert.equal(res.status(), 404);
  assert.match(await cora.textContent('h1'), /Not found/);
  assert.doesNotMatch(await cora.content(), /Secret of Other Org/);
  await shot(cora, 'portal-404.png');
  await cora.context().close();
});

test('the flow in Finnish shows Finnish labels', async () => {
  const context = await browser.newContext({ locale: 'fi-FI', baseURL: base });
  const page = await context.newPage();
  await page.goto('/login');
  assert.match(await page.textContent('button[type=submit]'), /Kirjaudu sisään/);
  await page.fill('input[name=email]', 'fiia@tuki.test');
  await page.fill('input[name=password]', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForLoadState();
  assert.match(await page.textContent('#sidebar'), /Jonot/);
  await page.click('text=Uusi puhelinpyyntö');
  await page.fill('#customer-q', 'Cora');
  await page.waitForSelector('#customer-results label.customer');
  await page.check('#customer-results input[name=requester_id]');
  await page.fill('input[name=subject]', 'Näyttö vilkkuu');
  await page.fill('textarea[name=body]', 'Asiakas soitti: näyttö vilkkuu.');
  await page.click('#intake-form button[type=submit]');
  await page.waitForURL(/\/agent\/tickets\/\d+$/);
  await page.check('input[name=kind][value=note]');
  await page.fill('#composer textarea[name=body]', 'Kaapeli vaihdettu.');
  await page.click('#composer button[type=submit]');
  await page.waitForLoadState();
  await page.selectOption('#transfer-form select[name=group_id]', { label: 'Specialists (taso 2)' });
  await page.fill('#transfer-form input[name=reason]', 'Vaatii asiantuntijan');
  await page.click('#transfer-form button[type=submit]');
  await page.waitForLoadState();
  const text = await page.textContent('main');
  for (const label of ['Tila', 'Kiireellisyys', 'Pyytäjä', 'Sisäinen muistiinpano', 'Siirretty', 'Puhelin']) {
    assert.match(text, new RegExp(label));
  }
  await shot(page, 'agent-ticket-fi.png');
  await context.close();
});

test('attachments: uploaded on a reply and a note, downloaded with their type and name, internal files stay internal', async () => {
  // A small PNG (1x1) from the customer.
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
  const cora = await session('cora@acme.test');
  await cora.goto(`/portal/tickets/${number}`);
  await cora.fill('#reply-form textarea[name=body]', 'A photo of the label.');
  await cora.setInputFiles('#reply-form input[type=file]', { name: 'label photo.png', mimeType: 'image/png', buffer: png });
  await cora.click('#reply-form button[type=submit]');
  await cora.waitForLoadState();
  assert.match(await cora.textContent('main'), /label photo\.png/);

  // Tier 2 attaches a log and a page to an internal note, and opens the photo.
  const agent = await session('toni@tuki.test');
  await agent.goto(ticketUrl);
  await agent.check('input[name=kind][value=note]');
  await agent.fill('#composer textarea[name=body]', 'Service tool log attached.');
  await agent.setInputFiles('#composer input[type=file]', [
    { name: 'service-log.txt', mimeType: 'text/plain', buffer: Buffer.from('jam sensor: 3 errors\n') },
    { name: 'report.html', mimeType: 'text/html', buffer: Buffer.from('<script>alert(1)</script>') },
  ]);
  await agent.click('#composer button[type=submit]');
  await agent.waitForLoadState();
  const timeline = agent.locator('#timeline');
  const href = async (name) => timeline.locator(`a:has-text("${name}")`).getAttribute('href');
  const photo = await agent.request.get(await href('label photo.png'));
  assert.equal(photo.status(), 200);
  assert.equal(photo.headers()['content-type'], 'image/png');
  assert.match(photo.headers()['content-disposition'], /^inline; filename="label photo\.png"/);
  assert.deepEqual(Buffer.from(await photo.body()), png);
  const logHref = await href('service-log.txt');
  const log = await agent.request.get(logHref);
  assert.equal(log.status(), 200);
  assert.equal(await log.text(), 'jam sensor: 3 errors\n');
  // Anything a browser could run from Tuki's origin is a download, sandboxed.
  const html = await agent.request.get(await href('report.html'));
  assert.match(html.headers()['content-disposition'], /^attachment;/);
  assert.match(html.headers()['content-security-policy'], /sandbox/);
  assert.equal(html.headers()['x-content-type-options'], 'nosniff');
  await shot(agent, 'agent-ticket-files.png');
  await agent.context().close();

  // The customer never sees the internal note's files, not even by URL.
  await cora.reload();
  assert.doesNotMatch(await cora.textContent('main'), /service-log\.txt/);
  assert.equal((await cora.request.get(logHref)).status(), 404);
  // The customer's own photo, yes; for another organisation's customer, no.
  const coraPhoto = await cora.locator('main a:has-text("label photo.png")').getAttribute('href');
  assert.equal((await cora.request.get(coraPhoto)).status(), 200);
  const olli = await session('olli@other.test');
  assert.equal((await olli.request.get(coraPhoto)).status(), 404);
  await olli.context().close();

  // A file over the limit gets a clear message and nothing is saved.
  await cora.fill('#reply-form textarea[name=body]', 'Too big to send.');
  await cora.setInputFiles('#reply-form input[type=file]', { name: 'video.mp4', mimeType: 'video/mp4', buffer: Buffer.alloc(11 * 1024 * 1024, 1) });
  const [res] = await Promise.all([
    cora.waitForResponse((r) => r.url().endsWith(`/portal/tickets/${number}/reply`)),
    cora.click('#reply-form button[type=submit]'),
  ]);
  assert.equal(res.status(), 413);
  assert.match(await cora.textContent('main'), /video\.mp4 is larger than 10 MB/);
  await cora.goto(`/portal/tickets/${number}`);
  assert.doesNotMatch(await cora.textContent('main'), /Too big to send/);
  await cora.context().close();
});

test('administration: an organisation is edited, a group changes tier and form, the queues stay in the sidebar', async () => {
  const page = await session('admin@tuki.test');
  await page.goto('/admin/organisations');
  assert.match(await page.textContent('#sidebar'), /Queues/);
  await page.click('main a:has-text("Other Org")');
  await page.fill('#org-form input[name=name]', 'Other Org Ltd');
  await page.check('#org-form input[name=shares]');
  await page.fill('#org-form input[name=domains]', 'other.test, other.example');
  await page.click('#org-form button[type=submit]');
  await page.waitForURL(/\/admin\/organisations$/);
  const row = await page.textContent('main tr:has-text("Other Org Ltd")');
  assert.match(row, /Yes/);
  assert.match(row, /other\.example, other\.test/);

  await page.goto('/admin/groups');
  const specialists = page.locator('section:has(h2:has-text("Specialists"))');
  await specialists.locator('summary').click();
  await specialists.locator('select[name=tier]').selectOption('3');
  await specialists.locator('select[name=form]').selectOption('virtual');
  await specialists.locator('button:has-text("Save")').click();
  await page.waitForURL(/\/admin\/groups$/);
  assert.match(await page.textContent('section:has(h2:has-text("Specialists")) h2'), /tier 3 · Virtual/);
  // The console's sidebar names the group by its new tier.
  assert.match(await page.textContent('#sidebar'), /Specialists \(tier 3\)/);
  await shot(page, 'admin-groups-edit.png');
  await page.context().close();
});

test('an unknown address gets the 404 page; the API keeps its JSON errors', async () => {
  const page = await session('tia@tuki.test');
  const res = await page.goto('/agent/no-such-page');
  assert.equal(res.status(), 404);
  assert.match(await page.textContent('h1'), /Not found/);
  const api = await page.request.get('/api/v1/no-such-thing', { headers: { Accept: 'text/html' } });
  assert.equal(api.status(), 404);
  assert.equal((await api.json()).error.code, 'not_found');
  await page.context().close();
});

test('live updates: a ticket created through the REST API appears in an open queue without a reload', async () => {
  const token = tuki(['token', 'create', '--email', 'tia@tuki.test', '--name', 'e2e']).trim();
  const api = (method, path, body) => fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body && JSON.stringify(body),
  });
  const found = await (await api('GET', '/api/v1/users?q=cora')).json();
  const cora = (Array.isArray(found) ? found : found.items)[0];
  const page = await session('tia@tuki.test');
  await page.goto('/agent?queue=open');
  await page.waitForFunction(() => window.EventSource !== undefined);
  await page.waitForTimeout(500); // the page's event stream is connected
  const before = await page.textContent('#sidebar a[data-queue=open] .count');
  const created = await api('POST', '/api/v1/tickets', { subject: 'Scanner offline since morning', body: 'Reported through the API.', requester_id: cora.id });
  assert.equal(created.status, 201);
  await page.waitForSelector('#ticket-list :text("Scanner offline since morning")', { timeout: 10000 });
  assert.equal(Number(await page.textContent('#sidebar a[data-queue=open] .count')), Number(before) + 1);
  // A change through the API updates the open ticket page, too.
  const t = await created.json();
  await page.goto(`/agent/tickets/${t.number}`);
  await page.waitForTimeout(500);
  assert.equal((await api('POST', `/api/v1/tickets/${t.id}/articles`, { kind: 'note', body: 'Driver reinstalled remotely.' })).status, 201);
  await page.waitForSelector('#timeline :text("Driver reinstalled remotely.")', { timeout: 10000 });
  await page.context().close();
});

test('sign-in is limited per client address as well as per account', async () => {
  const context = await browser.newContext({ baseURL: base });
  const page = await context.newPage();
  await page.goto('/login');
  const csrf = await page.inputValue('input[name=csrf]');
  // Tuki believes X-Forwarded-For only from a proxy on its own machine,
  // which is where this test's requests come from.
  const attempt = (email, password, ip) => page.request.post('/login', {
    form: { csrf, email, password }, headers: { 'X-Forwarded-For': ip }, maxRedirects: 0,
  });
  for (let i = 0; i < 20; i++) {
    assert.equal((await attempt(`guess${i}@tuki.test`, 'not the password', '203.0.113.9')).status(), 401);
  }
  // From that address, not even the right password gets through now…
  const limited = await attempt('tia@tuki.test', PASSWORD, '203.0.113.9');
  assert.equal(limited.status(), 429);
  assert.match(await limited.text(), /Too many/i);
  // …while everyone else still signs in.
  assert.equal((await attempt('tia@tuki.test', PASSWORD, '198.51.100.4')).status(), 303);
  await context.close();
});
