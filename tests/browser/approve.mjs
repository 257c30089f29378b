// Opens the approval page in headless Chromium (Debian's, driven by
// playwright-core) at a phone's size, fills the form, clicks Approve, and
// checks the result page. Saves a screenshot of each page.
//   node tests/browser/approve.mjs <page url> <screenshot dir>
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const [url, dir] = process.argv.slice(2);
if (!url || !dir) {
  console.error('usage: approve.mjs <page url> <screenshot dir>');
  process.exit(2);
}
mkdirSync(dir, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  const shown = await page.goto(url);
  if (shown.status() !== 200) throw new Error(`the page answered ${shown.status()}`);
  const heading = await page.textContent('h1');
  if (!heading.includes('Approve this model')) throw new Error(`unexpected page: ${heading}`);
  // The CSP admits the page's stylesheet by its hash: were the hash wrong,
  // Chromium would drop it and the Approve button would not be green.
  const green = await page.$eval('button.approve', (b) => getComputedStyle(b).backgroundColor);
  if (green !== 'rgb(26, 127, 55)') throw new Error(`the stylesheet was not applied (button is ${green})`);
  await page.screenshot({ path: `${dir}/approval-page.png`, fullPage: true });
  await page.fill('#approver', 'Browser Test');
  await page.fill('#comment', 'Looks right <b>to me</b>');
  const [result] = await Promise.all([page.waitForNavigation(), page.click('button.approve')]);
  if (result.status() !== 200) throw new Error(`the decision answered ${result.status()}`);
  const done = await page.textContent('h1');
  if (!done.includes('Approved')) throw new Error(`unexpected result page: ${done}`);
  const body = await page.textContent('body');
  if (!body.includes('Looks right <b>to me</b>')) throw new Error('the comment was not shown as text');
  await page.screenshot({ path: `${dir}/approval-approved.png`, fullPage: true });
  console.log(`approved in the browser; screenshots in ${dir}`);
} finally {
  await browser.close();
}
