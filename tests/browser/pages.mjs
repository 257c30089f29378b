// Every state of the approval page in headless Chromium (Debian's, driven by
// playwright-core) at a phone's size, within the page's own CSP: each state
// is audited with axe-core (no violations allowed) and kept as a screenshot.
//   node tests/browser/pages.mjs <screenshot dir> <flow>=<url> ...
// Flows (":champion" — the page compares with the deployed version, ":first"
// — it says nothing is deployed yet):
//   approve[:champion|:first]=<url>  pending → fill the form, Approve → approved → reload: already decided
//   reject[:champion|:first]=<url>   pending → Reject → rejected
//   expired=<url>    an approval past its deadline (410)
//   not-found=<url>  an id nobody issued (404)
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const [dir, ...flows] = process.argv.slice(2);
if (!dir || flows.length === 0) {
  console.error('usage: pages.mjs <screenshot dir> <flow>=<url> ...');
  process.exit(2);
}
mkdirSync(dir, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const failures = [];
const audited = [];

// axe runs through the DevTools protocol (page.evaluate), which the page's
// CSP (no script at all) does not govern; the page itself stays script-free.
async function audit(page, state, expectStatus, response, expectHeading) {
  if (response && response.status() !== expectStatus) {
    failures.push(`${state}: answered ${response.status()}, expected ${expectStatus}`);
  }
  const heading = await page.textContent('h1');
  if (!heading || !heading.includes(expectHeading)) {
    failures.push(`${state}: heading ${JSON.stringify(heading)}, expected ${JSON.stringify(expectHeading)}`);
  }
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => globalThis.axe.run(document, { resultTypes: ['violations'] }));
  for (const v of result.violations) {
    failures.push(`${state}: ${v.id} (${v.impact}): ${v.help}; ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  }
  await page.screenshot({ path: `${dir}/approval-${state}.png`, fullPage: true });
  audited.push(`${state} (${result.violations.length} violations)`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
});
try {
  for (const flow of flows) {
    const [spec, url] = [flow.slice(0, flow.indexOf('=')), flow.slice(flow.indexOf('=') + 1)];
    const [kind, expect] = spec.split(':');
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    const shown = await page.goto(url);
    if (kind === 'approve' || kind === 'reject') {
      const state = expect === 'champion' ? 'pending-with-champion' : 'pending-first-run';
      await audit(page, state, 200, shown, 'Approve this model');
      const text = await page.textContent('main');
      if (expect === 'champion') {
        // The held-out figures beside the deployed version's, the worse one marked,
        // and both confusion matrices as tables.
        if (!text.includes('Deployed now') || !text.includes('-0.0333 (worse)')) failures.push(`${state}: no comparison with the deployed version`);
        if ((await page.$$('table.grid caption')).length !== 3) failures.push(`${state}: expected the metrics and two confusion matrices`);
      } else if (expect === 'first') {
        if (!text.includes('Nothing is deployed yet')) failures.push(`${state}: the first run is not said to be one`);
      }
      // Stratified: rows of every label, though the output is sorted by label.
      const labels = await page.$$eval('main h3', (hs) => hs.map((h) => h.textContent));
      if (labels.join(',') !== 'setosa,versicolor,virginica') failures.push(`${state}: the sample shows ${labels}`);
      // The CSP admits the page's stylesheet by its hash: were the hash wrong,
      // Chromium would drop it and the Approve button would not be green.
      const green = await page.$eval('button.approve', (b) => getComputedStyle(b).backgroundColor);
      if (green !== 'rgb(26, 127, 55)') failures.push(`the stylesheet was not applied (button is ${green})`);
      await page.fill('#approver', 'Browser Test');
      await page.fill('#comment', 'Looks right <b>to me</b>');
      const button = kind === 'approve' ? 'button.approve' : 'button.reject';
      const [result] = await Promise.all([page.waitForNavigation(), page.click(button)]);
      const decided = kind === 'approve' ? 'Approved' : 'Rejected';
      await audit(page, kind === 'approve' ? 'approved' : 'rejected', 200, result, decided);
      const body = await page.textContent('body');
      if (!body.includes('Looks right <b>to me</b>')) failures.push(`${kind}: the comment was not shown as text`);
      if (kind === 'approve') {
        const again = await page.goto(url);
        await audit(page, 'already-decided', 200, again, 'Already decided');
      }
    } else if (kind === 'expired') {
      await audit(page, 'expired', 410, shown, 'expired');
    } else if (kind === 'not-found') {
      await audit(page, 'not-found', 404, shown, 'not found');
    } else {
      failures.push(`unknown flow ${kind}`);
    }
    await page.close();
  }
} finally {
  await browser.close();
}
if (failures.length > 0) {
  console.error(`page states with problems:\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
console.log(`audited in Chromium with axe-core: ${audited.join(', ')}; screenshots in ${dir}`);
