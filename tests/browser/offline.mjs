// What pages.mjs and site.mjs share: headless Debian chromium with the network blocked. Every request
// that is not file: or data: is aborted and recorded in `blocked`; failed file loads go to `failed`,
// script errors to `errors`. The caller closes `browser` when it is done.
import { chromium } from 'playwright-core';

export async function openOffline(timeoutMs) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--no-first-run', '--allow-file-access-from-files'],
  });
  const blocked = [], failed = [], errors = [];
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file:') || url.startsWith('data:')) return route.continue();
    blocked.push(url);
    return route.abort();
  });
  const page = await context.newPage();
  page.setDefaultTimeout(timeoutMs);
  page.on('requestfailed', (r) => { if (r.url().startsWith('file:')) failed.push(`${r.url()} ${r.failure()?.errorText}`); });
  page.on('pageerror', (e) => errors.push(String(e).slice(0, 300)));
  return { browser, page, blocked, failed, errors };
}
