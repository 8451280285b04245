// One served folder and one headless Chromium (Debian's, through
// playwright-core, with the flags this machine needs), for the probe and
// benchmark scripts: `const s = await openSession(dir, 'imgforge-x-');
// ... s.ctx.newPage(), s.origin ...; await s.close();`
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

async function freePort() {
  return new Promise((res) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); });
  });
}

// `options`: more launchPersistentContext options (acceptDownloads, viewport).
export async function openSession(dir, profilePrefix, options = {}) {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const server = spawn('python3', [path.join(root, 'tests/serve.py'), dir, String(port)], { stdio: 'inherit' });
  for (let i = 0; i < 50; i++) {
    if (await fetch(`${origin}/index.html`).then((r) => r.ok, () => false)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), profilePrefix));
  const ctx = await chromium.launchPersistentContext(profile, {
    ...options,
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return {
    origin,
    ctx,
    async close() {
      await ctx.close();
      server.kill();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

// Puts a hidden <input type=file id=ID> on the page and gives it `files`
// (a path or paths), as a user picking them would: the page then reads
// them as File objects (document.getElementById(ID).files).
export async function giveFiles(page, id, files) {
  await page.evaluate((id) => {
    const i = document.createElement('input');
    Object.assign(i, { type: 'file', multiple: true, hidden: true, id });
    document.body.append(i);
  }, id);
  await page.setInputFiles(`#${id}`, files);
}
