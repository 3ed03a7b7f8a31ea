// Headless Debian chromium opens one page of the course site (build/index.html, build/notes/*.html)
// from disk with the network blocked (every request that is not file: or data: is aborted and
// recorded), waits for MathJax where the page loads it, and measures what a reader sees.
//   node site.mjs FILE.html SHOT.png [QUERY]   -> one JSON line: typeset formulas, raw TeX left, images,
//                                                prev/next links, requests; with QUERY (FILE is search.html)
//                                                the titles of the pages Sphinx's search finds for it
import path from 'node:path';
import { openOffline } from './offline.mjs';

const [file, shot, query] = process.argv.slice(2);
const { browser, page, blocked, failed, errors } = await openOffline(60000);
try {
  await page.goto('file://' + path.resolve(file) + (query ? `?q=${encodeURIComponent(query)}` : ''), { waitUntil: 'load' });
  const found = query ? await page.waitForFunction(() => {
    const items = document.querySelectorAll('#search-results li');
    const done = document.querySelector('#search-results .search-summary, #search-results p');
    return (items.length || done) && [...items].map((li) => li.querySelector('a')?.textContent.trim());
  }, null, { timeout: 30000 }).then((h) => h.jsonValue(), () => null) : undefined;
  const loadsMathJax = await page.evaluate(() => [...document.scripts].some((s) => /MathJax\.js/.test(s.src)));
  const mathjax = loadsMathJax && await page.waitForFunction(() => window.MathJax && window.MathJax.isReady, null,
    { timeout: 30000 }).then(() => true, () => false);
  if (mathjax) await page.evaluate(() => new Promise((done) => window.MathJax.Hub.Queue(done)));
  await page.waitForTimeout(300);
  const result = await page.evaluate(() => {
    const main = document.querySelector('main, article, .bd-article') || document.body;
    const visible = main.innerText;
    const raw = [...visible.matchAll(/\$\$[^$]{0,40}|\$[^$\s][^$\n]{0,60}\$|\\\(.{0,40}|\\\[.{0,40}/g)]
      .map((m) => m[0]).slice(0, 10);
    const images = [...main.querySelectorAll('img')];
    return {
      title: document.title,
      math: document.querySelectorAll('.MathJax_CHTML').length,
      mathErrors: document.querySelectorAll('.MathJax_Error, .mjx-merror').length,
      raw,
      images: images.length,
      brokenImages: images.filter((i) => !i.complete || i.naturalWidth === 0).map((i) => i.src),
      prev: document.querySelector('a.left-prev')?.getAttribute('href') || null,
      next: document.querySelector('a.right-next')?.getAttribute('href') || null,
    };
  });
  await page.screenshot({ path: shot });
  console.log(JSON.stringify({ file, loadsMathJax, mathjax, ...result, found, blocked, failed, errors }));
} finally {
  await browser.close();
}
