// "My settings" in a real browser: an agent opens the page from their name
// in the console's header, unticks one kind of mail, saves, reloads and
// still sees it unticked (the others ticked), then switches the language to
// Finnish and gets the page, and the console, in Finnish.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDesk, shot } from './harness.mjs';

let desk;

before(async () => {
  desk = await startDesk('tuki-e2e-settings-', [['aku@tuki.test', 'Aku Agentti', 'agent']]);
});

after(async () => {
  if (desk) await desk.stop();
});

const box = (page, kind) => page.locator(`input[name=notify][value=${kind}]`);

test('an agent switches off one kind of mail and chooses Finnish', async () => {
  const page = await desk.session('aku@tuki.test');
  await page.click('header a.me');
  await page.waitForURL('**/settings');
  assert.equal(await page.textContent('h1'), 'My settings');
  const kinds = await page.locator('input[name=notify]').evaluateAll((els) => els.map((e) => e.value));
  assert.deepEqual(kinds, ['new_ticket', 'customer_reply', 'assigned', 'sla']);
  for (const kind of kinds) assert.equal(await box(page, kind).isChecked(), true, kind);

  await box(page, 'new_ticket').uncheck();
  await page.click('form[action="/settings"] button[type=submit]');
  await page.waitForURL('**/settings?saved=1');
  assert.equal(await page.textContent('#saved'), 'Saved.');

  await page.reload();
  assert.equal(await box(page, 'new_ticket').isChecked(), false);
  for (const kind of ['customer_reply', 'assigned', 'sla']) {
    assert.equal(await box(page, kind).isChecked(), true, kind);
  }
  await shot(page, 'settings-en.png');

  await page.check('input[name=language][value=fi]');
  await page.click('form[action="/settings"] button[type=submit]');
  await page.waitForURL('**/settings?saved=1');
  assert.equal(await page.getAttribute('html', 'lang'), 'fi');
  assert.equal(await page.textContent('h1'), 'Omat asetukset');
  assert.equal(await page.textContent('#saved'), 'Tallennettu.');
  assert.equal(await page.isChecked('input[name=language][value=fi]'), true);
  // Saving the language kept the mail switches as they were.
  assert.equal(await box(page, 'new_ticket').isChecked(), false);
  assert.equal(await box(page, 'sla').isChecked(), true);
  await shot(page, 'settings-fi.png');

  await page.goto('/agent');
  assert.equal(await page.getAttribute('html', 'lang'), 'fi');
  assert.match(await page.textContent('header'), /Kirjaudu ulos/);
  await page.context().close();
});
