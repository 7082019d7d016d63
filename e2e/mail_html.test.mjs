// An email's formatting in a real browser: a customer's HTML mail with a
// pasted screenshot arrives through `tuki mail ingest`; an administrator reads its
// text on the ticket page and opens the formatted message in a sandboxed
// frame, where the screenshot loads from Tuki's files, the tracking image
// of a remote server is gone and the mail's script never ran. Mail written
// by the pipe (another process) appears in an open queue by itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startDesk, shot, bin } from './harness.mjs';

let desk;

before(async () => {
  desk = await startDesk('tuki-e2e-mail-html-', [['ada@tuki.test', 'Ada Admin', 'admin']]);
});

after(async () => {
  if (desk) await desk.stop();
});

const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

const mail = [
  'From: Kaisa Asiakas <kaisa@customer.test>',
  'To: help@tuki.test',
  'Subject: Virheilmoitus näytöllä',
  'Message-ID: <html-1@customer.test>',
  'MIME-Version: 1.0',
  'Content-Type: multipart/related; boundary="rel"',
  '',
  '--rel',
  'Content-Type: multipart/alternative; boundary="alt"',
  '',
  '--alt',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Hei, näytölle tulee virhe. Kuvakaappaus alla.',
  '--alt',
  'Content-Type: text/html; charset=utf-8',
  '',
  '<p>Hei, näytölle tulee <b id="err">virhe E42</b>.</p>',
  '<p><img id="shot" src="cid:shot1@customer.test" alt="kuvakaappaus"></p>',
  '<img id="tracker" src="https://tracker.example/open.png">',
  '<script>window.parent.pwned = 1</script>',
  '<a id="link" href="https://example.org/manual">manual</a>',
  '--alt--',
  '--rel',
  'Content-Type: image/png; name="screenshot.png"',
  'Content-Disposition: inline; filename="screenshot.png"',
  'Content-ID: <shot1@customer.test>',
  'Content-Transfer-Encoding: base64',
  '',
  PNG,
  '--rel--',
  '',
].join('\r\n');

test('an HTML mail shows its formatting and inline image in a sandboxed frame', async () => {
  const run = spawnSync(bin, ['--data-dir', desk.dataDir, 'mail', 'ingest'], { input: mail, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const line = run.stderr.split('\n').find((l) => l.startsWith('tuki mail ingest: {'));
  const outcome = JSON.parse(line.replace(/^tuki mail ingest: /, ''));
  assert.equal(outcome.outcome, 'ticket');

  const page = await desk.session('ada@tuki.test');
  await page.goto(`/agent/tickets/${outcome.number}`);
  const article = page.locator('#timeline li.article').first();
  assert.match(await article.locator('.body').textContent(), /Kuvakaappaus alla/);
  assert.match(await article.locator('ul.files').textContent(), /screenshot\.png/);

  await article.locator('details.formatted summary').click();
  const frame = page.frameLocator('iframe.mail-html');
  assert.equal(await frame.locator('b').textContent(), 'virhe E42');
  // The screenshot is served by Tuki to the signed-in agent, and decodes.
  const shotImg = frame.locator('img[alt=kuvakaappaus]');
  await shotImg.waitFor();
  assert.match(await shotImg.getAttribute('src'), /^\/files\/\d+\/screenshot\.png$/);
  await page.waitForFunction(() => {
    const img = document.querySelector('iframe.mail-html').contentDocument.querySelector('img[alt=kuvakaappaus]');
    return img && img.complete && img.naturalWidth === 1;
  });
  // No remote image, no script: removed at import, and the frame runs none.
  assert.equal(await frame.locator('img[src]').count(), 1);
  assert.equal(await frame.locator('img[src*="tracker"]').count(), 0);
  assert.equal(await frame.locator('script').count(), 0);
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  assert.equal(await page.locator('iframe.mail-html').getAttribute('sandbox'), 'allow-same-origin allow-popups allow-popups-to-escape-sandbox');
  await shot(page, 'ticket-formatted-mail.png');
});

test('mail that arrives through the pipe appears in an open queue without a reload', async () => {
  const page = await desk.session('ada@tuki.test');
  await page.goto('/agent?queue=open');
  await page.waitForFunction(() => window.EventSource !== undefined);
  await page.waitForTimeout(1000); // the event stream is connected
  const before = Number(await page.textContent('#sidebar a[data-queue=open] .count'));
  // Another process writes the ticket: the server hears of it from the
  // database's change feed, not from its own pages.
  const run = spawnSync(bin, ['--data-dir', desk.dataDir, 'mail', 'ingest'], {
    input: 'From: Olli Asiakas <olli@customer.test>\r\nTo: help@tuki.test\r\nSubject: Kahvinkeitin vuotaa\r\n'
      + 'Message-ID: <live-1@customer.test>\r\n\r\nVettä on lattialla.\r\n',
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr);
  await page.waitForSelector('#ticket-list :text("Kahvinkeitin vuotaa")', { timeout: 10000 });
  assert.equal(Number(await page.textContent('#sidebar a[data-queue=open] .count')), before + 1);
  await page.context().close();
});
