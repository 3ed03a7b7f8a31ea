// Headless Debian chromium drives JupyterLab like a student: open the exercise, run all cells,
// press nbgrader's Validate, read the dialog, save a screenshot.
//   node check.mjs URL SCREENSHOT.png   -> prints one JSON line {dialog, cells, executed}
import { chromium } from 'playwright-core';

const [url, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.setDefaultTimeout(180000);
  await page.goto(url);
  await page.locator('.jp-Notebook .jp-Cell').first().waitFor();
  await page.waitForFunction(() => {
    const w = window.jupyterapp?.shell?.currentWidget;
    return w?.sessionContext?.session?.kernel?.status === 'idle';
  });
  await page.evaluate(() => window.jupyterapp.commands.execute('notebook:run-all-cells'));
  await page.waitForFunction(() => {
    const w = window.jupyterapp.shell.currentWidget;
    const code = w.content.widgets.filter((c) => c.model.type === 'code');
    return w.sessionContext.session.kernel.status === 'idle' &&
      code.every((c) => c.model.executionCount !== null || !c.model.sharedModel.getSource().trim());
  });
  const cells = await page.evaluate(() => {
    const code = window.jupyterapp.shell.currentWidget.content.widgets.filter((c) => c.model.type === 'code');
    return { cells: code.length, executed: code.filter((c) => c.model.executionCount !== null).length };
  });
  await page.getByRole('button', { name: 'Validate' }).first().click();
  const dialog = page.locator('.jp-Dialog').filter({ hasText: 'Validat' });
  await dialog.waitFor();
  await page.waitForFunction(() => !document.querySelector('.jp-Dialog')?.textContent.includes('Validating...'));
  const text = await dialog.innerText();
  await page.screenshot({ path: screenshot });
  console.log(JSON.stringify({ dialog: text, ...cells }));
} finally {
  await browser.close();
}
