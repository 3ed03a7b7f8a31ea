// Headless Debian chromium opens rendered lectures from disk with the network blocked (every
// request that is not file: or data: is aborted and recorded) and measures them.
//   node pages.mjs page FILE.html SHOT.png     -> one JSON line: typeset formulas, raw TeX left, requests
//   node pages.mjs deck FILE.slides.html SHOT.png -> the same, plus every slide's box in the 1280x720 viewport
import path from 'node:path';
import { openOffline } from './offline.mjs';

const [mode, file, shot] = process.argv.slice(2);
const { browser, page, blocked, failed, errors } = await openOffline(120000);
try {
  await page.goto('file://' + path.resolve(file));
  const mathjax = await page.waitForFunction(() => window.MathJax && window.MathJax.isReady, null, { timeout: 30000 })
    .then(() => true, () => false);
  // wait for MathJax's queue, then until the layout holds still (typeset formulas grow after it)
  const settle = async () => {
    if (mathjax) await page.evaluate(() => new Promise((done) => window.MathJax.Hub.Queue(done)));
    await page.evaluate(() => new Promise((done) => {
      const size = () => { const s = document.querySelector('.reveal section.present:not(.stack)') || document.body;
                           const r = s.getBoundingClientRect(); return `${s.scrollHeight} ${r.height} ${r.width}`; };
      let last = size(), same = 0;
      const start = Date.now();
      const tick = () => {
        const now = size();
        same = now === last ? same + 1 : 0;
        last = now;
        if (same >= 3 || Date.now() - start > 5000) done(); else setTimeout(tick, 100);
      };
      setTimeout(tick, 100);
    }));
  };
  await settle();
  const text = await page.evaluate(() => {
    const visible = document.body.innerText;
    const raw = [...visible.matchAll(/\$\$[^$]{0,40}|\$[^$\s][^$\n]{0,60}\$/g)].map((m) => m[0]).slice(0, 10);
    return {
      math: document.querySelectorAll('.MathJax_CHTML').length,
      mathErrors: document.querySelectorAll('.MathJax_Error, .mjx-merror').length,
      raw,
    };
  });
  const result = { mode, mathjax, ...text };
  if (mode === 'page') {
    // the progress bars: widget views the vendored html-manager turns into elements
    result.widgetViews = await page.evaluate(() =>
      document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length);
    result.widgetsShown = await page.waitForFunction((n) => {
      const shown = document.querySelectorAll('.widget-hprogress, .widget-progress').length;
      return shown >= n && shown;
    }, result.widgetViews, { timeout: 20000 }).then((h) => h.jsonValue(), () =>
      page.evaluate(() => document.querySelectorAll('.widget-hprogress, .widget-progress').length));
    await page.evaluate(() => document.querySelector('.MJXc-display, .MathJax_CHTML')?.scrollIntoView({ block: 'center' }));
    await page.screenshot({ path: shot });
  } else {
    await page.locator('.reveal.ready').waitFor();
    const reveal = await page.evaluate(() => [...document.scripts].map((s) => s.textContent).join('\n')
      .match(/"([^"]*dist\/reveal\.js)"/)[1]);
    // the deck's own Reveal instance (require.js hands back the module the deck loaded)
    await page.evaluate((url) => new Promise((done) => window.require([url], (R) => { window.__reveal = R; done(); })), reveal);
    const indices = await page.evaluate(() => window.__reveal.getSlides().map((s) => window.__reveal.getIndices(s)));
    result.slides = [];
    for (const [n, { h, v }] of indices.entries()) {
      await page.evaluate(([h, v]) => window.__reveal.slide(h, v), [h, v ?? 0]);
      await settle();
      result.slides.push(await page.evaluate((n) => {
        const slide = window.__reveal.getCurrentSlide();
        const box = { top: Infinity, left: Infinity, bottom: -Infinity, right: -Infinity };
        const cut = [];
        for (const el of slide.querySelectorAll('*')) {
          if (el.closest('.MJX_Assistive_MathML')) continue;  // MathJax's visually hidden copy
          const r = el.getBoundingClientRect();
          if (!r.width || !r.height || getComputedStyle(el).display === 'none') continue;
          box.top = Math.min(box.top, r.top); box.left = Math.min(box.left, r.left);
          box.bottom = Math.max(box.bottom, r.bottom); box.right = Math.max(box.right, r.right);
          if (el.scrollWidth > el.clientWidth + 2 && ['auto', 'scroll', 'hidden'].includes(getComputedStyle(el).overflowX)) {
            cut.push(el.tagName.toLowerCase() + '.' + [...el.classList].join('.'));
          }
        }
        const heading = slide.querySelector('h1, h2, h3, h4');
        const title = (heading ? heading.textContent : slide.innerText).replace(/[¶\s]+/g, ' ').trim().slice(0, 60);
        const cells = [...slide.querySelectorAll('.jp-Cell')].map((c) => Math.round(c.getBoundingClientRect().height));
        return { n: n + 1, cells, ...Object.fromEntries(Object.entries(box).map(([k, x]) => [k, Math.round(x)])), cut, title,
                 math: slide.querySelectorAll('.MathJax_CHTML').length, images: slide.querySelectorAll('img').length };
      }, n));
    }
    // the screenshot: slide $SHOT_SLIDE, else the first that shows a formula and a figure (else a formula),
    // every fragment shown
    const pick = result.slides[Number(process.env.SHOT_SLIDE || 0) - 1] || result.slides.find((s) => s.math && s.images)
      || result.slides.find((s) => s.math) || result.slides[0];
    const { h, v } = indices[pick.n - 1];
    await page.evaluate(([h, v]) => {
      const R = window.__reveal;
      R.slide(h, v);
      R.getCurrentSlide().querySelectorAll('.fragment').forEach(() => R.nextFragment());
    }, [h, v ?? 0]);
    await settle();
    await page.waitForTimeout(300);
    await page.screenshot({ path: shot });
    result.screenshot_slide = pick.n;
    result.viewport = await page.evaluate(() => ({ width: innerWidth, height: innerHeight }));
  }
  console.log(JSON.stringify({ ...result, blocked, failed, errors }));
} finally {
  await browser.close();
}
