// The knowledge base in a real browser: the ticket page suggests the
// article about its problem and puts its solution into the reply; the help
// widget on a page served from a second local origin searches articles and
// files a request, while a website the desk did not list gets nothing and a
// robot filling the honeypot files nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startDesk, shot, freePort } from './harness.mjs';

let desk, browser, base;
const tuki = (args, input) => desk.tuki(args, input);
const session = (email, locale) => desk.session(email, locale);
const sites = [];

before(async () => {
  desk = await startDesk('tuki-e2e-knowledge-', [
    ['admin@tuki.test', 'Ada Admin', 'admin'],
    ['tia@tuki.test', 'Tia Tier1', 'agent'],
  ]);
  ({ browser, base } = desk);
});

after(async () => {
  for (const s of sites) s.close();
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

/// A shop's website on its own loopback origin, with the widget's tag.
async function website(lang) {
  const port = await freePort();
  const html = `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>Kodinkone Shop</h1><p>Our products.</p>
<script src="${base}/widget.js" async></script></body></html>`;
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  sites.push(server);
  // `localhost` and `127.0.0.1` are different origins from the desk's.
  return `http://localhost:${port}`;
}

async function publish(admin, article) {
  const made = await admin('POST', '/api/v1/knowledge', article);
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const state = await admin('POST', `/api/v1/knowledge/${made.body.id}/state`, { state: 'published' });
  assert.equal(state.status, 200);
  return made.body.id;
}

test('the ticket page suggests the article about its problem and inserts its solution', async () => {
  const admin = api(tuki(['token', 'create', '--email', 'admin@tuki.test', '--name', 'e2e']).trim());
  const jam = await publish(admin, {
    title: 'Printer paper jam (E15)', symptom: 'The printer stops and shows **E15**.',
    solution: '1. Open the rear door.\n2. Pull the crumpled sheet out.', products: ['printer'],
    language: 'en', visibility: 'public',
  });
  await publish(admin, {
    title: 'Router drops the wireless network', symptom: 'Wi-Fi disappears every evening.',
    solution: 'Change the channel to 1, 6 or 11.', language: 'en', visibility: 'public',
  });
  const t = await admin('POST', '/api/v1/tickets', {
    subject: 'Printer shows E15 every morning', body: 'The paper jams and the printer stops with error E15.',
  });
  assert.equal(t.status, 201);

  const page = await session('admin@tuki.test');
  await page.goto(`/agent/tickets/${t.body.number}`);
  const suggested = page.locator('.kb-suggested li');
  await suggested.first().waitFor();
  assert.equal(await suggested.count(), 1);
  assert.match(await suggested.first().innerText(), /Printer paper jam/);
  const box = page.locator('#composer textarea[name=body]');
  await box.fill('Hello,\n');
  await suggested.first().locator('button').click();
  await page.waitForFunction(() => document.querySelector('#composer textarea').value.includes('rear door'));
  const text = await box.inputValue();
  assert.ok(text.startsWith('Hello,\n'), text);
  assert.ok(text.includes(`/help/${jam}`), text);
  await shot(page, 'knowledge-ticket-suggestion.png');
  const used = await admin('GET', `/api/v1/knowledge/${jam}`);
  assert.equal(used.body.uses, 1);
  await page.context().close();
});

test('the help widget works on a listed website, not on another, and stops a robot', async () => {
  const admin = api(tuki(['token', 'create', '--email', 'admin@tuki.test', '--name', 'e2e-widget']).trim());
  await publish(admin, {
    title: 'Astianpesukone ei tyhjennä vettä', symptom: 'Koneen pohjalle jää vettä.',
    solution: 'Puhdista pohjasuodatin ja tarkista poistoletku.', products: ['astianpesukone'],
    language: 'fi', visibility: 'public',
  });
  await publish(admin, {
    title: 'Astianpesukoneen huoltotila', symptom: 'Huolto.', solution: 'Huoltokoodi 4711.',
    language: 'fi', visibility: 'internal',
  });
  const shop = await website('fi');
  const stranger = await website('fi');

  // The administrator lists the shop in the console and copies the tag.
  const adminPage = await session('admin@tuki.test');
  await adminPage.goto('/admin/knowledge');
  await adminPage.fill('textarea[name=origins]', shop);
  await adminPage.click('form[action="/admin/knowledge"] button[type=submit]');
  await adminPage.waitForURL(/saved=1/);
  assert.match(await adminPage.inputValue('input.copy'), /widget\.js/);
  await adminPage.context().close();

  const before = (await admin('GET', '/api/v1/tickets?limit=200')).body.items.length;
  const context = await browser.newContext({ locale: 'fi-FI' });
  const page = await context.newPage();
  await page.goto(shop);
  await page.click('#tuki-help-widget >> button.launch');
  await page.fill('#tuki-help-widget >> input[name=q]', 'astianpesukone vettä');
  const hit = page.locator('#tuki-help-widget >> ul.results li button');
  // The search answers after a pause in typing; until then the latest show.
  await page.waitForFunction(() => {
    const found = document.querySelector('#tuki-help-widget').shadowRoot.querySelectorAll('ul.results li button');
    return found.length === 1 && found[0].textContent.includes('Astianpesukone');
  });
  assert.equal(await hit.count(), 1, 'only the public article');
  await hit.first().click();
  await page.locator('#tuki-help-widget >> text=Puhdista pohjasuodatin').waitFor();
  await page.click('#tuki-help-widget >> button.solved');
  await page.locator('#tuki-help-widget >> .note').waitFor();
  await shot(page, 'knowledge-widget-article.png');

  // A request through the widget's form, by a person (who takes a moment).
  await page.click('#tuki-help-widget >> button.ask');
  await page.fill('#tuki-help-widget >> input[name=name]', 'Maija Meikäläinen');
  await page.fill('#tuki-help-widget >> input[name=email]', 'maija@koti.test');
  await page.fill('#tuki-help-widget >> input[name=subject]', 'Astianpesukone pitää ääntä');
  await page.fill('#tuki-help-widget >> textarea[name=body]', 'Kone kolisee pesun aikana.');
  await page.waitForTimeout(3200);
  await page.click('#tuki-help-widget >> form.request button[type=submit]');
  await page.locator('#tuki-help-widget >> .sent').waitFor();
  await shot(page, 'knowledge-widget-request.png');
  const after = (await admin('GET', '/api/v1/tickets?limit=200')).body.items;
  assert.equal(after.length, before + 1);
  const filed = after.find((t) => t.subject === 'Astianpesukone pitää ääntä');
  assert.ok(filed, 'the request is a ticket');
  assert.equal(filed.channel, 'web');

  // A robot fills every field, the hidden one too: thanked, nothing filed.
  const robot = await context.newPage();
  await robot.goto(shop);
  await robot.click('#tuki-help-widget >> button.launch');
  await robot.click('#tuki-help-widget >> button.ask');
  for (const [name, value] of [['name', 'Bot'], ['email', 'bot@spam.test'], ['subject', 'Cheap pills'], ['website', 'http://spam.test']]) {
    await robot.locator(`#tuki-help-widget >> [name=${name}]`).fill(value, { force: true });
  }
  await robot.fill('#tuki-help-widget >> textarea[name=body]', 'Buy now');
  await robot.waitForTimeout(3200);
  await robot.click('#tuki-help-widget >> form.request button[type=submit]');
  await robot.locator('#tuki-help-widget >> .sent').waitFor();
  const afterRobot = (await admin('GET', '/api/v1/tickets?limit=200')).body.items;
  assert.equal(afterRobot.length, before + 1, 'the honeypot stopped the robot');

  // A website the desk did not list: the browser gets no answer to show.
  const other = await context.newPage();
  await other.goto(stranger);
  const refused = await other.evaluate(async (desk) => {
    try {
      await fetch(desk + '/widget/v1/articles?q=astianpesukone');
      return 'answered';
    } catch (e) {
      return 'refused';
    }
  }, base);
  assert.equal(refused, 'refused');
  await other.click('#tuki-help-widget >> button.launch');
  await other.fill('#tuki-help-widget >> input[name=q]', 'astianpesukone');
  await other.waitForTimeout(800);
  assert.equal(await other.locator('#tuki-help-widget >> ul.results li button').count(), 0);
  await context.close();
});
