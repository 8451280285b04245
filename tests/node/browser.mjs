// Browser tests: the page in Debian's chromium (headless, through
// playwright-core, never a downloaded browser), byte for byte against the
// CLI:
// - grow (preset e) of a GPT image given through the file input, captured
//   as a download and through showSaveFilePicker (stubbed with an OPFS file
//   handle), against `imgforge resize --grow-last` on a copy;
// - the sparse disk preset through the form, and the gpt-boot, initramfs
//   and iso presets with files through the file input, against
//   `imgforge build` of the TOML the page's command-line box shows;
// - every recipe in examples/ with examples/inputs given as a folder
//   (paths inputs/…), through the OPFS-backed download, and the 512 MiB
//   bootable disk also streamed into a picked file, against `imgforge build`;
// - inspect: a raw image, a qcow2 dropped on the page, and the bootable disk
//   as qcow2 (qemu-img convert) browsed as file trees: /EFI/BOOT expanded,
//   BOOTX64.EFI's size, a symlink's target, grub.cfg downloaded and compared
//   with mtools' copy;
// - bad input: a recipe error shown with its line and key, a missing input
//   file, an image format imgforge does not read, a worker panic (the page
//   restarts the worker), Cancel during a long build then a build that works;
// - imgforge.js convert of a raw image to qcow2 (plain and -c) read by
//   parallel reader workers, against `imgforge convert -O qcow2`, and a
//   failing reader;
// - the CSP holds and no request leaves the page's origin; embed.html
//   (iframe + module API); ?recipe=URL. Screenshots go to target/screenshots/.
//
// Pending (something not merged) is reported; a failure with
// PARITY_STRICT=1 or CI=true.
import { chromium } from 'playwright-core';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import crypto, { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const shots = path.join(root, 'target/screenshots');
const tmp = path.join(root, 'target/browser-tmp');
const cli = process.env.IMGFORGE_BIN || path.join(root, 'target/release/imgforge');
const CI = process.env.CI === 'true';
const STRICT = process.env.PARITY_STRICT === '1' || CI;
const only = process.argv[2];
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
fs.mkdirSync(shots, { recursive: true });
fs.rmSync(tmp, { recursive: true, force: true });
fs.mkdirSync(tmp, { recursive: true });

function need(tool) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0 || fs.existsSync(tool)) return true;
  if (CI) throw new Error(`${tool} is required under CI=true but is not installed`);
  console.log(`skip: ${tool} not installed`);
  return false;
}
if (!need(chromiumPath)) process.exit(0);
if (!fs.existsSync(path.join(root, 'www/pkg/imgforge_web.js'))) {
  throw new Error('www/pkg is missing: run ./build.sh build');
}

const sha = (buf) => createHash('sha256').update(buf).digest('hex');
async function shaFile(file) {
  const h = createHash('sha256');
  const s = fs.createReadStream(file);
  s.on('data', (d) => h.update(d));
  await once(s, 'end');
  return h.digest('hex');
}
function cliRun(args) {
  const r = spawnSync(cli, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`imgforge ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
function haveCli() {
  if (fs.existsSync(cli)) return true;
  if (CI) throw new Error(`no CLI at ${cli}`);
  return false;
}
// The page's status line once a job ended.
async function waitDone(page, id = 'status', timeout = 60000) {
  await waitFor(page, (id) => /Built|Saved|failed|Cannot|crashed|Extracted|Fix the recipe/.test(document.getElementById(id).textContent), `the job (#${id})`, timeout, id);
  return page.textContent(`#${id}`);
}
const freePort = () => new Promise((res) => {
  const s = net.createServer();
  s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); });
});

const port = await freePort();
const origin = `http://127.0.0.1:${port}`;
const server = spawn('python3', [path.join(root, 'tests/serve.py'), path.join(root, 'www'), String(port)], { stdio: 'inherit' });
for (let i = 0; i < 50; i++) {
  if (await fetch(`${origin}/index.html`).then((r) => r.ok, () => false)) break;
  await new Promise((r) => setTimeout(r, 100));
}
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'imgforge-chromium-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: chromiumPath,
  headless: true,
  acceptsDownloads: true,
  acceptDownloads: true,
  viewport: { width: 1280, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

let failed = 0, pending = 0;
const problems = [];
async function test(name, f) {
  if (only && !name.includes(only)) return;
  const t0 = Date.now();
  try {
    const r = await f();
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    if (r === 'pending') { pending++; console.log(`PENDING  ${name} (${secs} s)`); }
    else if (r === 'skip') console.log(`skip  ${name}`);
    else console.log(`ok  ${name} (${secs} s)`);
  } catch (e) {
    failed++;
    console.log(`FAIL  ${name}: ${e.stack || e}`);
  }
}


// Polls from node (the page's CSP forbids the eval that waitForFunction
// falls back to).
async function waitFor(page, f, what, timeout = 20000, arg = undefined) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await page.evaluate(f, arg).catch(() => false);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function openPage(init, before) {
  const page = await ctx.newPage();
  if (init) await page.addInitScript(init);
  if (before) await before(page);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (/Content.Security.Policy|Refused to/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin + '/') && !u.startsWith('blob:') && !u.startsWith('data:')) problems.push(`request outside the page's origin: ${u}`);
  });
  await page.goto(`${origin}/index.html`);
  await waitFor(page, () => document.getElementById('status')?.textContent === 'Ready.', 'the page to start', 20000);
  return page;
}

const inputsDir = path.join(root, 'examples/inputs');
const haveInputs = fs.existsSync(path.join(inputsDir, 'rootfs.tar'));
if (!haveInputs && CI) throw new Error('examples/inputs is missing under CI=true (./examples/get-inputs.sh)');

// Job 1, "grow a cloud image" (preset e): a GPT disk made by sgdisk, given
// through the file input, grown by 8 MiB with grow_last. The reference is
// `imgforge resize --grow-last` on a copy (the backup GPT moves to the new
// end, the last partition fills it), checked by sgdisk -v.
const cloud = path.join(tmp, 'cloud.img');
const GROW = '[grow]\nimage = "cloud.img"\nsize = "+8M"\ngrow_last = true\n\n[output]\nformat = "raw"\n';
let ref = null;
if (need('sgdisk') && haveCli()) {
  execFileSync('truncate', ['-s', '8M', cloud]);
  execFileSync('sgdisk', ['-n', '1:2048:+2M', '-t', '1:ef00', '-n', '2:0:0', '-c', '2:root', cloud], { stdio: 'pipe' });
  const fd = fs.openSync(cloud, 'r+');
  fs.writeSync(fd, Buffer.from('imgforge was here'), 0, 17, 4 << 20);
  fs.closeSync(fd);
  const out = path.join(tmp, 'grown-cli.img');
  fs.copyFileSync(cloud, out);
  cliRun(['resize', '--grow-last', out, '+8M']);
  const v = execFileSync('sgdisk', ['-v', out], { encoding: 'utf8' });
  if (!v.includes('No problems found')) throw new Error(`sgdisk -v on imgforge resize's output: ${v}`);
  ref = { by: 'imgforge resize --grow-last', sha: sha(fs.readFileSync(out)) };
}

async function growThroughPage(page) {
  await page.click('button[data-preset="grow"]');
  await page.fill('#recipe', GROW);
  if ((await page.inputValue('#f-format')) !== 'raw') throw new Error('the form did not follow the recipe text');
  await page.setInputFiles('#files', [cloud]);
  await waitFor(page, () => document.getElementById('file-list').textContent.includes('cloud.img'), 'the file list');
  await page.click('#build');
}

await test('grow a GPT cloud image (grow_last) → download = imgforge resize --grow-last', async () => {
  if (!ref) return 'skip';
  const page = await openPage(() => { delete window.showSaveFilePicker; });
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60000 }), growThroughPage(page)]);
  const got = sha(fs.readFileSync(await download.path()));
  if (got !== ref.sha) throw new Error(`download sha256 ${got} != ${ref.sha}`);
  await waitFor(page, () => document.getElementById('status').textContent.startsWith('Built'), 'the build');
  const cmd = await page.textContent('#cli-cmd');
  if (!cmd.includes('imgforge resize --grow-last disk.img +8M')) throw new Error(`command box: ${cmd}`);
  await page.screenshot({ path: path.join(shots, 'build-grow.png'), fullPage: true });
  await page.close();
});

await test('grow a GPT cloud image → showSaveFilePicker (OPFS handle) = imgforge resize --grow-last', async () => {
  if (!ref) return 'skip';
  const page = await openPage(() => {
    window.showSaveFilePicker = async (opts) => {
      const dir = await navigator.storage.getDirectory();
      window.__picked = `picked-${opts.suggestedName}`;
      return dir.getFileHandle(window.__picked, { create: true });
    };
  });
  await growThroughPage(page);
  const status = await waitDone(page);
  if (!status.startsWith('Saved')) throw new Error(status);
  const got = await page.evaluate(async () => {
    const dir = await navigator.storage.getDirectory();
    const file = await (await dir.getFileHandle(window.__picked)).getFile();
    const h = await crypto.subtle.digest('SHA-256', await file.arrayBuffer());
    return [...new Uint8Array(h)].map((b) => b.toString(16).padStart(2, '0')).join('');
  });
  if (got !== ref.sha) throw new Error(`picked file sha256 ${got} != ${ref.sha}`);
  await page.close();
});

// Job 2, the "sparse disk" preset at 64M through the form, against
// `imgforge build` of the TOML the page shows.
await test('sparse GPT disk preset → download = imgforge build', async () => {
  const page = await openPage(() => { delete window.showSaveFilePicker; });
  await page.click('button[data-preset="raw"]');
  await page.fill('#f-size', '64M');
  const toml = await page.textContent('#cli-toml');
  if (!toml.includes('size = "64M"')) throw new Error(`the form did not update the recipe:\n${toml}`);
  const downloaded = page.waitForEvent('download', { timeout: 60000 }).catch(() => null);
  await page.click('#build');
  await waitFor(page, () => /Built|failed|Cannot/.test(document.getElementById('status').textContent), 'the build', 60000);
  const status = await page.textContent('#status');
  await page.screenshot({ path: path.join(shots, 'build.png'), fullPage: true });
  if (/not merged yet/.test(status)) {
    console.log(`  ${status}`);
    if (STRICT) throw new Error(status);
    return 'pending';
  }
  if (!status.startsWith('Built')) throw new Error(status);
  const got = sha(fs.readFileSync(await (await downloaded).path()));
  const recipe = path.join(tmp, 'sparse.toml');
  const out = path.join(tmp, 'sparse-cli.img');
  fs.writeFileSync(recipe, toml);
  if (!fs.existsSync(cli)) {
    if (CI) throw new Error(`no CLI at ${cli}`);
    return 'pending';
  }
  execFileSync(cli, ['build', recipe, '-o', out]);
  const want = sha(fs.readFileSync(out));
  if (got !== want) throw new Error(`page ${got} != imgforge build ${want}`);
  // And the Inspect view lists its partition.
  await page.click('#tab-inspect');
  await page.setInputFiles('#inspect-file', out);
  await waitFor(page, () => document.getElementById('parts').textContent.includes('data'), 'the partition table');
  await page.screenshot({ path: path.join(shots, 'inspect-gpt.png'), fullPage: true });
  await page.close();
});

await test('presets fill the form and the command-line box', async () => {
  const page = await openPage();
  await page.click('button[data-preset="gpt-boot"]');
  const rows = await page.locator('#f-parts tbody tr').count();
  if (rows !== 2) throw new Error(`gpt-boot preset shows ${rows} partition rows`);
  await page.click('#syntax-json');
  JSON.parse(await page.inputValue('#recipe'));
  await page.click('#cli summary');
  const cmd = await page.textContent('#cli-cmd');
  if (cmd !== 'imgforge build recipe.toml -o disk.qcow2') throw new Error(`command box: ${cmd}`);
  await page.screenshot({ path: path.join(shots, 'build-gpt-preset.png'), fullPage: true });
  await page.close();
});

// The bootable disk with GRUB: the recipe gets [grub] (the seed's modules,
// the editable grub.cfg, the .deb as the module source, asked for in the
// input list), parses, and the command-line box shows the build and the
// grub-install line; back to systemd-boot gives the preset again.
await test('gpt-boot preset with GRUB: [grub] in the recipe, inputs, command-line box', async () => {
  const page = await openPage();
  await page.setViewportSize({ width: 1366, height: 900 });
  await page.click('button[data-preset="gpt-boot"]');
  const before = await page.inputValue('#recipe');
  if (await page.isHidden('#f-loader-row')) throw new Error('no boot loader choice on the bootable disk');
  if (await page.isVisible('#f-grub')) throw new Error('GRUB fields shown for systemd-boot');
  await page.selectOption('#f-loader', 'grub');
  const text = await page.inputValue('#recipe');
  for (const want of ['[grub]', 'modules = [', '"part_gpt"', '"udf"', 'prefix = "/EFI/BOOT"', 'x86_64-efi = "grub-efi-amd64-bin.deb"', 'menuentry "imgforge Linux"']) {
    if (!text.includes(want)) throw new Error(`recipe lacks ${want}:\n${text}`);
  }
  if (text.includes('BOOTX64.EFI') || text.includes('/loader/')) throw new Error(`systemd-boot left in the GRUB recipe:\n${text}`);
  const err = await page.textContent('#recipe-error');
  if (err) throw new Error(`the GRUB recipe does not parse: ${err}`);
  const needs = await page.textContent('#needs');
  if (!needs.includes('grub-efi-amd64-bin.deb — missing') || needs.includes('BOOTX64.EFI')) throw new Error(`input list: ${needs}`);
  const hint = await page.textContent('#preset-inputs');
  if (!hint.includes('grub-efi-amd64-bin.deb') || hint.includes('systemd-boot')) throw new Error(`input hint: ${hint}`);
  // The grub.cfg is editable: the edit lands in the recipe.
  await page.fill('#grub-cfg', 'set timeout=5\nmenuentry "edited" {\n    linux /EFI/BOOT/vmlinuz console=ttyS0\n    initrd /EFI/BOOT/initrd\n}\n');
  if (!(await page.inputValue('#recipe')).includes('menuentry \\"edited\\"') && !(await page.inputValue('#recipe')).includes('menuentry "edited"')) throw new Error(`grub.cfg edit not in the recipe:\n${await page.inputValue('#recipe')}`);
  // A .deb with its version in the name, given as a file, becomes the source.
  const deb = path.join(tmp, 'grub-efi-amd64-bin_2.06-13_amd64.deb');
  fs.writeFileSync(deb, 'not really a deb');
  await page.setInputFiles('#files', deb);
  await waitFor(page, () => document.getElementById('grub-source').value === 'grub-efi-amd64-bin_2.06-13_amd64.deb', 'the .deb as the module source');
  if (!(await page.inputValue('#recipe')).includes('x86_64-efi = "grub-efi-amd64-bin_2.06-13_amd64.deb"')) throw new Error('the picked .deb is not the recipe\'s source');
  await page.click('#cli summary');
  const cmd = (await page.textContent('#cli-cmd')).split('\n');
  if (cmd[0] !== 'imgforge build recipe.toml -o disk.qcow2') throw new Error(`command box: ${cmd.join('\n')}`);
  if (!cmd.at(-1).startsWith('imgforge grub-install --target=x86_64-efi --directory=grub-efi-amd64-bin_2.06-13_amd64.deb --modules=\'part_gpt ') || !cmd.at(-1).endsWith(' --boot-directory=/EFI/BOOT --config=grub.cfg disk.qcow2')) throw new Error(`grub-install line: ${cmd.at(-1)}`);
  await page.screenshot({ path: path.join(shots, 'build-gpt-grub.png'), fullPage: true });
  // The GRUB ISO preset: [grub] with both targets, no loader choice.
  await page.click('button[data-preset="grub-iso"]');
  if (await page.isVisible('#f-loader-row')) throw new Error('a boot loader choice on the ISO');
  const iso = await page.inputValue('#recipe');
  if (!/targets = \[\s*"x86_64-efi",\s*"i386-pc",?\s*\]/.test(iso) || !iso.includes('format = "iso"') || !iso.includes('i386-pc = "grub-pc-bin.deb"')) throw new Error(`GRUB ISO recipe:\n${iso}`);
  // The core takes the GRUB ISO recipe: no error under the editor.
  const isoErr = await page.textContent('#recipe-error');
  if (isoErr) throw new Error(`the GRUB ISO recipe does not parse: ${isoErr}`);
  await page.screenshot({ path: path.join(shots, 'build-grub-iso.png'), fullPage: true });
  // Back to the bootable disk, GRUB then systemd-boot: the preset again.
  await page.click('button[data-preset="gpt-boot"]');
  await page.selectOption('#f-loader', 'grub');
  await page.selectOption('#f-loader', 'systemd-boot');
  if ((await page.inputValue('#recipe')) !== before) throw new Error(`systemd-boot again is not the preset:\n${await page.inputValue('#recipe')}`);
  await page.close();
});

await test('inspect a raw image (file input)', async () => {
  const img = path.join(tmp, 'plain.img');
  execFileSync('truncate', ['-s', '5M', img]);
  const page = await openPage();
  await page.click('#tab-inspect');
  await page.setInputFiles('#inspect-file', img);
  await waitFor(page, () => /5242880 bytes/.test(document.getElementById('facts').textContent), 'the virtual size', 20000);
  await page.screenshot({ path: path.join(shots, 'inspect-raw.png'), fullPage: true });
  await page.close();
});

await test('inspect a qcow2 made by qemu-img convert -O qcow2 (dropped)', async () => {
  if (!need('qemu-img')) return;
  const raw = path.join(tmp, 'src.img');
  const qcow = path.join(tmp, 'disk.qcow2');
  fs.writeFileSync(raw, Buffer.alloc(1 << 20, 0x5a));
  execFileSync('truncate', ['-s', '48M', raw]);
  execFileSync('qemu-img', ['convert', '-O', 'qcow2', raw, qcow]);
  const want = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', qcow], { encoding: 'utf8' }))['virtual-size'];
  const page = await openPage();
  await page.click('#tab-inspect');
  const b64 = fs.readFileSync(qcow).toString('base64');
  const dt = await page.evaluateHandle((b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], 'disk.qcow2'));
    return dt;
  }, b64);
  await page.dispatchEvent('#inspect-drop', 'drop', { dataTransfer: dt });
  await waitFor(page, () => document.getElementById('facts').textContent || document.getElementById('inspect-status').textContent.startsWith('Cannot'), 'the inspect result', 20000);
  await page.screenshot({ path: path.join(shots, 'inspect.png'), fullPage: true });
  const status = (await page.textContent('#inspect-status')) + (await page.textContent('#inspect-warnings'));
  if (/not written yet|not merged yet/.test(status)) {
    console.log(`  ${status}`);
    if (STRICT) throw new Error(status);
    return 'pending';
  }
  const facts = await page.textContent('#facts');
  if (!facts.includes(`${want} bytes`) || !facts.includes('qcow2')) throw new Error(`page shows "${facts}", qemu-img says ${want}`);
  await page.close();
});

await test('embed.html: the iframe takes ?preset&recipe, the module API builds and inspects', async () => {
  const page = await ctx.newPage();
  page.on('pageerror', (e) => problems.push(`embed page error: ${e.message}`));
  await page.goto(`${origin}/embed.html`);
  const frame = page.frameLocator('#builder');
  await frame.locator('#status', { hasText: 'Ready.' }).waitFor({ timeout: 20000 });
  const text = await frame.locator('#recipe').inputValue();
  if (!text.includes('size = "64M"')) throw new Error(`iframe recipe: ${text}`);
  await page.click('#api-build');
  await page.locator('#api-status', { hasText: /Built|Failed/ }).waitFor({ timeout: 30000 });
  const status = await page.textContent('#api-status');
  await page.screenshot({ path: path.join(shots, 'embed.png'), fullPage: true });
  if (/not merged yet/.test(status)) {
    console.log(`  ${status}`);
    if (STRICT) throw new Error(status);
    return 'pending';
  }
  if (status !== 'Built 67108864 bytes.') throw new Error(status);
  const info = JSON.parse(await page.textContent('#api-info'));
  if (info.virtual_size !== 67108864) throw new Error(JSON.stringify(info));
  await page.screenshot({ path: path.join(shots, 'embed.png'), fullPage: true });
  await page.close();
});

// Each preset with test files given through the file input (flat names, as
// the presets name them), built in the page and downloaded, against
// `imgforge build` of the TOML the command-line box shows, run in a folder
// holding the same files.
const presetDir = path.join(tmp, 'preset-inputs');
function presetInputs() {
  if (fs.existsSync(presetDir)) return presetDir;
  fs.mkdirSync(presetDir, { recursive: true });
  for (const f of ['BOOTX64.EFI', 'vmlinuz', 'initrd.img', 'rootfs.tar', 'isolinux.bin', 'ldlinux.c32', 'grub-efi-amd64-bin.deb', 'grub-pc-bin.deb']) fs.copyFileSync(path.join(inputsDir, f), path.join(presetDir, f));
  fs.writeFileSync(path.join(presetDir, 'init'), '#!/bin/sh\necho imgforge init\nexec /bin/sh\n');
  fs.writeFileSync(path.join(presetDir, 'busybox'), crypto.randomBytes(300000));
  return presetDir;
}
for (const id of ['gpt-boot', 'gpt-boot+grub', 'initramfs', 'iso', 'grub-iso']) {
  await test(`preset ${id} with files through the file input → download = imgforge build`, async () => {
    if (!haveInputs || !haveCli()) return 'skip';
    const dir = presetInputs();
    const page = await openPage(() => { delete window.showSaveFilePicker; });
    const [preset, loader] = id.split('+');
    await page.click(`button[data-preset="${preset}"]`);
    if (loader) await page.selectOption('#f-loader', loader);
    const recipeError = await page.textContent('#recipe-error');
    if (recipeError) {
      throw new Error(`the preset's recipe does not parse: ${recipeError}`);
    }
    await page.setInputFiles('#files', fs.readdirSync(dir).filter((f) => !f.endsWith('.toml') && !f.endsWith('.out')).map((f) => path.join(dir, f)));
    if (await page.locator('#needs .missing').count()) throw new Error(`files still missing: ${await page.textContent('#needs')}`);
    const downloaded = page.waitForEvent('download', { timeout: 120000 });
    await page.click('#build');
    downloaded.catch(() => {});
    const status = await waitDone(page, 'status', 120000);
    if (!status.startsWith('Built')) throw new Error(status);
    const got = await shaFile(await (await downloaded).path());
    await page.click('#cli summary');
    await page.screenshot({ path: path.join(shots, `build-preset-${id}.png`), fullPage: true });
    const recipe = path.join(dir, `${id}.toml`);
    fs.writeFileSync(recipe, await page.textContent('#cli-toml'));
    const out = path.join(dir, `${id}.out`);
    cliRun(['build', recipe, '-o', out]);
    const want = await shaFile(out);
    if (got !== want) throw new Error(`page ${got} != imgforge build ${want}`);
    await page.close();
  });
}

// Parity in the browser for every recipe in examples/: the recipe text in
// the editor, examples/inputs given as a folder (webkitRelativePath
// inputs/…, the paths the recipes name), built in the worker into OPFS and
// downloaded; the 512 MiB bootable disk is also streamed into a picked file.
const cliOut = {};
function exampleRef(name) {
  if (!cliOut[name]) {
    const out = path.join(tmp, `example-${name}.cli`);
    cliRun(['build', path.join(root, 'examples', `${name}.toml`), '-o', out]);
    cliOut[name] = { out, sha: null };
  }
  return cliOut[name];
}
async function buildExample(page, name) {
  await page.fill('#recipe', fs.readFileSync(path.join(root, 'examples', `${name}.toml`), 'utf8'));
  await page.setInputFiles('#folder', inputsDir);
  await waitFor(page, () => document.getElementById('file-list').textContent.includes('inputs/rootfs.tar'), 'the folder in the file list');
  await page.click('#build');
}
// The GRUB examples come with the [grub] recipe table (and the rescue ISO).
const grubExamples = ['grub-disk', 'grub-hybrid', 'grub-iso'].filter((n) => fs.existsSync(path.join(root, 'examples', `${n}.toml`)));
for (const name of ['bootable-disk', 'initramfs', 'iso', 'raw-disk', ...grubExamples]) {
  await test(`examples/${name}.toml → OPFS download = imgforge build`, async () => {
    if (!haveInputs || !haveCli()) return 'skip';
    const ref = exampleRef(name);
    ref.sha ??= await shaFile(ref.out);
    const page = await openPage(() => { delete window.showSaveFilePicker; });
    const downloaded = page.waitForEvent('download', { timeout: 120000 });
    await buildExample(page, name);
    const status = await waitDone(page, 'status', 120000);
    if (!status.startsWith('Built')) throw new Error(status);
    const got = await shaFile(await (await downloaded).path());
    if (got !== ref.sha) throw new Error(`page ${got} != imgforge build ${ref.sha}`);
    await page.screenshot({ path: path.join(shots, `build-example-${name}.png`), fullPage: true });
    await page.close();
  });
}

// A folder dropped on "Input files". Chromium gives a dropped folder as a
// FileSystemDirectoryEntry (webkitGetAsEntry) whose reader hands out its
// entries in batches, then an empty one; a test cannot drop a real folder,
// so the entry here is a stand-in with that interface over real Files.
// The page walks it into inputs/NAME paths and builds the CLI's bytes.
await test('a folder dropped on Input files (entries walked in batches) → download = imgforge build', async () => {
  if (!haveInputs || !haveCli()) return 'skip';
  const ref = exampleRef('bootable-disk');
  ref.sha ??= await shaFile(ref.out);
  const page = await openPage(() => {
    delete window.showSaveFilePicker;
    const real = DataTransferItem.prototype.webkitGetAsEntry;
    DataTransferItem.prototype.webkitGetAsEntry = function () { return window.__dropEntry ?? real.call(this); };
  });
  await page.fill('#recipe', fs.readFileSync(path.join(root, 'examples', 'bootable-disk.toml'), 'utf8'));
  await page.evaluate(() => {
    const i = document.createElement('input');
    Object.assign(i, { type: 'file', multiple: true, id: 'drop-src', hidden: true });
    document.body.append(i);
  });
  await page.setInputFiles('#drop-src', fs.readdirSync(inputsDir).map((n) => path.join(inputsDir, n)));
  const dt = await page.evaluateHandle(() => {
    const files = [...document.getElementById('drop-src').files];
    const later = (f) => setTimeout(f, 0);
    const fileEntry = (f) => ({ isFile: true, isDirectory: false, name: f.name, fullPath: `/inputs/${f.name}`, file: (ok) => later(() => ok(f)) });
    window.__dropEntry = {
      isFile: false, isDirectory: true, name: 'inputs', fullPath: '/inputs',
      createReader() {
        const batches = [files.slice(0, 3).map(fileEntry), files.slice(3).map(fileEntry)];
        return { readEntries: (ok) => later(() => ok(batches.shift() ?? [])) };
      },
    };
    const dt = new DataTransfer();
    dt.items.add(files[0]);
    return dt;
  });
  await page.dispatchEvent('#drop', 'drop', { dataTransfer: dt });
  const n = fs.readdirSync(inputsDir).length;
  await waitFor(page, (n) => document.querySelectorAll('#file-list li').length >= n, 'the dropped folder in the file list', 20000, n);
  const list = await page.textContent('#file-list');
  for (const f of fs.readdirSync(inputsDir)) if (!list.includes(`inputs/${f}`)) throw new Error(`inputs/${f} not in the file list: ${list}`);
  const downloaded = page.waitForEvent('download', { timeout: 120000 });
  await page.click('#build');
  const status = await waitDone(page, 'status', 120000);
  if (!status.startsWith('Built')) throw new Error(status);
  const got = await shaFile(await (await downloaded).path());
  if (got !== ref.sha) throw new Error(`page ${got} != imgforge build ${ref.sha}`);
  await page.close();
});

// The worker reads small inputs whole before a build (prefetch, 32 MiB by
// default) and big ones on demand: all up front, all on demand, and mixed
// (1 MiB: BOOTX64.EFI and initrd.img up front, vmlinuz and rootfs.tar on
// demand) give the CLI's bytes; a file the recipe does not name is not read. Straight through the worker's messages, to
// see how many inputs it read up front.
await test('worker build: inputs read up front, on demand and mixed = imgforge build', async () => {
  if (!haveInputs || !haveCli()) return 'skip';
  const ref = exampleRef('bootable-disk');
  ref.sha ??= await shaFile(ref.out);
  const page = await openPage();
  await page.evaluate(() => {
    const i = document.createElement('input');
    Object.assign(i, { type: 'file', multiple: true, id: 'worker-files', hidden: true });
    document.body.append(i);
  });
  const names = ['BOOTX64.EFI', 'vmlinuz', 'initrd.img', 'rootfs.tar'];
  // isolinux.bin: given, but the recipe does not name it: never read up front.
  await page.setInputFiles('#worker-files', [...names, 'isolinux.bin'].map((n) => path.join(inputsDir, n)));
  const text = fs.readFileSync(path.join(root, 'examples', 'bootable-disk.toml'), 'utf8');
  const small = names.filter((n) => fs.statSync(path.join(inputsDir, n)).size <= 1 << 20).length;
  if (small === 0 || small === names.length) throw new Error(`${small} of the inputs are <= 1 MiB: not a mixed case`);
  for (const [prefetch, want] of [[undefined, names.length], [0, 0], [1 << 20, small]]) {
    const [download, prefetched] = await Promise.all([page.waitForEvent('download', { timeout: 60000 }), page.evaluate(async ({ text, prefetch }) => {
      const w = new Worker('./worker.js', { type: 'module' });
      const files = [...document.getElementById('worker-files').files].map((f) => [`inputs/${f.name}`, f]);
      // Into OPFS: a 512 MiB Blob held in memory may be more than this
      // browser lets a download take (256 MiB here).
      const name = `worker-build-${prefetch}.img`;
      const done = await new Promise((ok, bad) => {
        w.onmessage = (e) => {
          if (e.data.type === 'done') ok(e.data);
          else if (e.data.type === 'error') bad(new Error(e.data.message));
        };
        const msg = { id: 1, cmd: 'build', recipe: text, files, out: 'opfs', name };
        if (prefetch !== undefined) msg.prefetch = prefetch;
        w.postMessage(msg);
      });
      w.terminate();
      const dir = await navigator.storage.getDirectory();
      const a = document.createElement('a');
      a.href = URL.createObjectURL(await (await dir.getFileHandle(done.name)).getFile());
      a.download = 'worker.img';
      document.body.append(a);
      a.click();
      return done.prefetched;
    }, { text, prefetch })]);
    if (prefetched !== want) throw new Error(`prefetch ${prefetch}: ${prefetched} inputs read up front, expected ${want}`);
    const got = await shaFile(await download.path());
    if (got !== ref.sha) throw new Error(`prefetch ${prefetch}: ${got} != imgforge build ${ref.sha}`);
  }
  await page.close();
});

// The picked file as raw, and as qcow2: a FileSystemWritableFileStream
// takes positioned writes, so the worker's qcow2 writer reads its input
// once and patches the header in last ("patch" messages).
for (const format of ['raw', 'qcow2']) {
  await test(`examples/bootable-disk.toml as ${format} → showSaveFilePicker (OPFS handle) = imgforge build`, async () => {
    if (!haveInputs || !haveCli()) return 'skip';
    let ref;
    if (format === 'raw') {
      ref = exampleRef('bootable-disk');
    } else {
      const out = path.join(tmp, 'example-bootable-disk-qcow2.cli');
      cliRun(['build', path.join(root, 'examples', 'bootable-disk.toml'), '-o', out, '-O', 'qcow2']);
      ref = { out, sha: null };
    }
    ref.sha ??= await shaFile(ref.out);
    const page = await openPage(() => {
      window.showSaveFilePicker = async (opts) => {
        const dir = await navigator.storage.getDirectory();
        window.__picked = `picked-${opts.suggestedName}`;
        return dir.getFileHandle(window.__picked, { create: true });
      };
    });
    const text = fs.readFileSync(path.join(root, 'examples', 'bootable-disk.toml'), 'utf8');
    const recipe = text.replace('format = "raw"', `format = "${format}"`);
    if (!recipe.includes(`format = "${format}"`)) throw new Error('examples/bootable-disk.toml has no format = "raw"');
    await page.fill('#recipe', recipe);
    await page.setInputFiles('#folder', inputsDir);
    await waitFor(page, () => document.getElementById('file-list').textContent.includes('inputs/rootfs.tar'), 'the folder in the file list');
    await page.click('#build');
    const status = await waitDone(page, 'status', 120000);
    if (!status.startsWith('Saved')) throw new Error(status);
    // qcow2 took the one-pass path: its header came as a patch.
    const patches = Number(await page.getAttribute('#status', 'data-patches') || 0);
    if ((format === 'qcow2') !== (patches > 0)) throw new Error(`${format}: ${patches} patch messages`);
    // The picked file leaves the page as a download, hashed here in pieces.
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60000 }), page.evaluate(async () => {
      const dir = await navigator.storage.getDirectory();
      const file = await (await dir.getFileHandle(window.__picked)).getFile();
      const a = document.createElement('a');
      a.href = URL.createObjectURL(file);
      a.download = 'picked.img';
      document.body.append(a);
      a.click();
    })]);
    const got = await shaFile(await download.path());
    if (got !== ref.sha) throw new Error(`picked file ${got} != imgforge build ${ref.sha}`);
    await page.close();
  });
}

// Inspect: the bootable disk as qcow2 (qemu-img convert), its filesystems
// browsed as trees; a file downloaded from inside it equals mtools' copy.
await test('inspect the bootable disk (qcow2): file trees, sizes, link targets, download of grub.cfg = mcopy', async () => {
  if (!haveInputs || !haveCli() || !need('qemu-img') || !need('mcopy') || !need('sgdisk')) return 'skip';
  const raw = exampleRef('bootable-disk').out;
  const qcow = path.join(tmp, 'bootable-disk.qcow2');
  execFileSync('qemu-img', ['convert', '-O', 'qcow2', raw, qcow]);
  const first = Number(/First sector: (\d+)/.exec(execFileSync('sgdisk', ['-i', '1', raw], { encoding: 'utf8' }))[1]);
  const grub = path.join(tmp, 'grub.cfg.mcopy');
  execFileSync('mcopy', ['-n', '-i', `${raw}@@${first * 512}`, '::/EFI/BOOT/grub.cfg', grub]);
  const page = await openPage(() => { delete window.showSaveFilePicker; });
  await page.click('#tab-inspect');
  await page.setInputFiles('#inspect-file', qcow);
  const tree1 = '#tree ul[data-part="1"]';
  await page.locator(`${tree1} li[data-path="/EFI"]`).waitFor({ timeout: 30000 });
  const heading = await page.textContent('#tree section.fs h3');
  if (!/Partition 1 · EFI System — fat/.test(heading)) throw new Error(`first filesystem heading: ${heading}`);
  await page.click(`${tree1} li[data-path="/EFI"] > .line > button.toggle`);
  await page.locator(`${tree1} li[data-path="/EFI/BOOT"]`).waitFor({ timeout: 10000 });
  await page.click(`${tree1} li[data-path="/EFI/BOOT"] > .line > button.toggle`);
  const efi = page.locator(`${tree1} li[data-path="/EFI/BOOT/BOOTX64.EFI"]`);
  await efi.waitFor({ timeout: 10000 });
  const want = fs.statSync(path.join(inputsDir, 'BOOTX64.EFI')).size;
  if (Number(await efi.getAttribute('data-size')) !== want) throw new Error(`BOOTX64.EFI data-size ${await efi.getAttribute('data-size')} != ${want}`);
  const sizeCell = efi.locator('.size');
  if ((await sizeCell.getAttribute('title')) !== `${want} bytes` || !/KiB/.test(await sizeCell.textContent())) throw new Error(`BOOTX64.EFI size shown as ${await sizeCell.textContent()}`);
  // The ext4 root: a symlink shows its target.
  const tree2 = '#tree ul[data-part="2"]';
  await page.locator(`${tree2} li[data-path="/bin"]`).waitFor({ timeout: 30000 });
  await page.click(`${tree2} li[data-path="/bin"] > .line > button.toggle`);
  const sh = page.locator(`${tree2} li[data-path="/bin/sh"]`);
  await sh.waitFor({ timeout: 10000 });
  if (!/sh → \S+/.test(await sh.textContent())) throw new Error(`/bin/sh shows ${await sh.textContent()}`);
  await page.screenshot({ path: path.join(shots, 'inspect-tree.png'), fullPage: true });
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 30000 }),
    page.click(`${tree1} li[data-path="/EFI/BOOT/grub.cfg"] button.get`),
  ]);
  const got = fs.readFileSync(await download.path());
  if (!got.equals(fs.readFileSync(grub))) throw new Error(`grub.cfg from the page (${got.length} bytes) != mcopy's`);
  if (!got.toString().includes('menuentry "imgforge Linux"')) throw new Error(`grub.cfg: ${got}`);
  await waitFor(page, () => document.getElementById('inspect-status').textContent.startsWith('Extracted grub.cfg'), 'the extract status');
  // The same through the module API (imgforge.js listDir/readFile).
  await page.evaluate(() => {
    const i = document.createElement('input');
    i.type = 'file';
    i.id = 'api-file';
    i.hidden = true;
    document.body.append(i);
  });
  await page.setInputFiles('#api-file', qcow);
  const api = await page.evaluate(async () => {
    const m = await import('./imgforge.js');
    const f = document.getElementById('api-file').files[0];
    const rows = await m.listDir(f, 1, '/EFI/BOOT');
    const blob = await m.readFile(f, 1, '/EFI/BOOT/grub.cfg');
    return { rows, text: await blob.text() };
  });
  const efiRow = api.rows.find((r) => r.name === 'BOOTX64.EFI');
  if (!efiRow || efiRow.size !== want || efiRow.kind !== 'file') throw new Error(`listDir: ${JSON.stringify(api.rows)}`);
  if (api.text !== fs.readFileSync(grub, 'utf8')) throw new Error(`readFile: ${api.text}`);
  await page.close();
});

// Convert through the module API: a raw image with data and holes, its
// size no multiple of the readers' chunks (nor of 512), to qcow2 (plain and
// -c) read by parallel reader workers (www/reader.js; the worker's `done`
// says how many, seen through a Worker spy), byte for byte against
// `imgforge convert -O qcow2`; then a reader that fails: one error naming
// the file, and the next convert works.
const spyOnWorkers = () => {
  const Real = window.Worker;
  window.__imgforgeDone = [];
  window.Worker = class extends Real {
    constructor(...a) {
      super(...a);
      this.addEventListener('message', (e) => {
        if (e.data?.type === 'done') window.__imgforgeDone.push({ ...e.data });
      });
    }
  };
};
const sampleRaw = path.join(tmp, 'parallel.raw');
function makeSampleRaw() {
  if (fs.existsSync(sampleRaw)) return sampleRaw;
  const size = 37 * (1 << 20) + 4099;
  const fd = fs.openSync(sampleRaw, 'w');
  fs.ftruncateSync(fd, size);
  let x = 12345;
  const rnd = () => { x = (x * 1103515245 + 12345) >>> 0; return x; };
  // Text and noise scattered over the disk (some across 1 MiB and 64 KiB
  // boundaries), and the last bytes.
  for (let i = 0; i < 40; i++) {
    const len = 1 + (rnd() % 300000);
    const off = rnd() % (size - len);
    const buf = i % 4 === 0 ? crypto.randomBytes(len) : Buffer.from('imgforge parallel readers '.repeat(Math.ceil(len / 26)).slice(0, len));
    fs.writeSync(fd, buf, 0, len, off);
  }
  fs.writeSync(fd, Buffer.from('the very end'), 0, 12, size - 12);
  fs.closeSync(fd);
  return sampleRaw;
}
async function convertInPage(page, opts) {
  return page.evaluate(async (opts) => {
    const m = await import('./imgforge.js');
    const f = document.getElementById('api-raw').files[0];
    window.__imgforgeDone.length = 0;
    try {
      const blob = await m.convert(f, 'qcow2', opts);
      const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
      const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
      return { hex, size: blob.size, done: window.__imgforgeDone.at(-1) };
    } catch (e) {
      return { error: e.message };
    }
  }, opts);
}
async function rawApiPage(before) {
  const page = await openPage(spyOnWorkers, before);
  await page.evaluate(() => {
    const i = document.createElement('input');
    i.type = 'file';
    i.id = 'api-raw';
    i.hidden = true;
    document.body.append(i);
  });
  await page.setInputFiles('#api-raw', makeSampleRaw());
  return page;
}

await test('imgforge.js convert(raw, "qcow2"), plain and -c: parallel readers, = imgforge convert -O qcow2', async () => {
  if (!haveCli()) return 'skip';
  const raw = makeSampleRaw();
  const page = await rawApiPage();
  for (const [opts, flags] of [[{}, []], [{ compress: true }, ['-c']]]) {
    const out = path.join(tmp, `parallel-cli${flags.join('')}.qcow2`);
    cliRun(['convert', ...flags, '-O', 'qcow2', raw, out]);
    const want = await shaFile(out);
    const got = await convertInPage(page, opts);
    if (got.error) throw new Error(`convert ${JSON.stringify(opts)}: ${got.error}`);
    if (!(got.done?.readers >= 2)) throw new Error(`the parallel readers were not used: done = ${JSON.stringify(got.done)}`);
    if (got.hex !== want) throw new Error(`convert ${JSON.stringify(opts)}: ${got.size} bytes, sha256 ${got.hex} != the CLI's ${want} (${fs.statSync(out).size} bytes)`);
  }
  await page.close();
});

await test('a parallel reader that fails: convert rejects naming the file, then converts again', async () => {
  // Nested workers' requests cannot be routed, so the build worker is
  // wrapped: its first reader pool starts readers that fail.
  const page = await rawApiPage(async (page) => {
    await page.route(/\/worker\.js$/, (route) => route.fulfill({
      contentType: 'text/javascript',
      body: `import './worker.js?real';
const real = self.imgforgeReaders, Real = self.Worker;
const failing = URL.createObjectURL(new Blob([
  "self.onmessage = (e) => { if (e.data !== 'ack') self.postMessage({ type: 'error', offset: e.data.start, message: 'NotReadableError: the test says no' }); };"
], { type: 'text/javascript' }));
let calls = 0;
self.imgforgeReaders = (file, opts) => {
  if (calls++ > 0) return real(file, opts);
  self.Worker = class extends Real { constructor(url, o) { super(failing, o); } };
  try { return real(file, opts); } finally { self.Worker = Real; }
};
`,
    }));
  });
  const bad = await convertInPage(page, {});
  if (!bad.error || !/reading parallel\.raw: NotReadableError: the test says no/.test(bad.error)) throw new Error(`with failing readers: ${JSON.stringify(bad)}`);
  const good = await convertInPage(page, {});
  if (good.error || !(good.done?.readers >= 2)) throw new Error(`after the failure: ${JSON.stringify(good)}`);
  await page.close();
});

// Bad input.
await test('a recipe that does not parse: the error names the line and the key', async () => {
  const page = await openPage();
  await page.fill('#recipe', '[disk]\nsize = "1G"\nsizes = 3\n');
  const err = await page.textContent('#recipe-error');
  if (!/line 3/.test(err) || !/sizes/.test(err)) throw new Error(`recipe error: "${err}"`);
  await page.fill('#recipe', '[output]\nformat = "raw"\n[disk\nsize = "1G"\n');
  const err2 = await page.textContent('#recipe-error');
  if (!/line 3/.test(err2)) throw new Error(`syntax error: "${err2}"`);
  await page.click('#build');
  const status = await page.textContent('#status');
  if (!status.startsWith('Fix the recipe first')) throw new Error(`status after Build: ${status}`);
  await page.screenshot({ path: path.join(shots, 'error-recipe.png'), fullPage: true });
  await page.close();
});

await test('a missing input file: the build fails naming it, the page builds again', async () => {
  const page = await openPage(() => { delete window.showSaveFilePicker; });
  await page.click('button[data-preset="gpt-boot"]');
  await page.click('#build');
  const status = await waitDone(page);
  if (!/Build failed: .*BOOTX64\.EFI.*not provided/.test(status)) throw new Error(status);
  await page.screenshot({ path: path.join(shots, 'error-missing-file.png'), fullPage: true });
  await page.click('button[data-preset="raw"]');
  await page.fill('#f-size', '8M');
  await page.click('#build');
  const again = await waitDone(page);
  if (!again.startsWith('Built')) throw new Error(`after the failure: ${again}`);
  await page.close();
});

// A raw image larger than the page's storage may hold: one clear error
// that says why and what to do, and the same disk as qcow2 builds.
await test('a build larger than the browser allows: the page says so, qcow2 builds', async () => {
  const page = await openPage(() => { delete window.showSaveFilePicker; });
  const recipe = (format) => `[output]\nformat = "${format}"\n[disk]\nsize = "100T"\ntable = "gpt"\n[[partition]]\ntype = "8300"\nsize = "rest"\n`;
  await page.fill('#recipe', recipe('raw'));
  await page.click('#build');
  const status = await waitDone(page);
  if (!/Build failed: output: the browser's storage for this page cannot hold 100\.0 TiB .*qcow2/.test(status)) throw new Error(status);
  await page.screenshot({ path: path.join(shots, 'error-too-big.png'), fullPage: true });
  await page.fill('#recipe', recipe('qcow2'));
  await page.click('#build');
  const again = await waitDone(page);
  if (!again.startsWith('Built disk.qcow2')) throw new Error(`as qcow2: ${again}`);
  await page.close();
});

await test('an image format imgforge does not read: inspect says so', async () => {
  if (!need('qemu-img')) return 'skip';
  const vdi = path.join(tmp, 'disk.vdi');
  execFileSync('qemu-img', ['create', '-q', '-f', 'vdi', vdi, '16M']);
  const page = await openPage();
  await page.click('#tab-inspect');
  await page.setInputFiles('#inspect-file', vdi);
  await waitFor(page, () => /looks like a VirtualBox VDI image, which imgforge does not read/.test(document.getElementById('inspect-warnings').textContent), 'the unknown format note');
  await page.screenshot({ path: path.join(shots, 'error-unknown-format.png'), fullPage: true });
  await page.close();
});

await test('a worker panic: the page says so, restarts the worker, and builds', async () => {
  // The first worker script the page loads is a wrapper that turns every
  // request into the worker's test-only "panic" command.
  let served = 0;
  const page = await openPage(() => { delete window.showSaveFilePicker; }, async (page) => {
    await page.route(/\/worker\.js$/, (route) => {
      if (served++ > 0) return route.continue();
      return route.fulfill({
        contentType: 'text/javascript',
        body: "import './worker.js?real';\nconst real = self.onmessage;\nself.onmessage = (e) => real({ data: { ...e.data, cmd: 'panic' } });\n",
      });
    });
  });
  if (served !== 1) throw new Error(`the page loaded worker.js ${served} times`);
  await page.fill('#f-size', '8M');
  await page.click('#build');
  const status = await waitDone(page);
  if (!/worker crashed/.test(status)) throw new Error(status);
  await page.screenshot({ path: path.join(shots, 'error-worker-crash.png'), fullPage: true });
  await page.click('#build');
  const again = await waitDone(page);
  if (!again.startsWith('Built')) throw new Error(`after the crash: ${again}`);
  // The panic reached the console through console_error_panic_hook; it is
  // expected here, not a problem of the page.
  for (let i = problems.length - 1; i >= 0; i--) if (/panic the browser test asked for|unreachable/.test(problems[i])) problems.splice(i, 1);
  await page.close();
});

await test('Cancel stops a long build (qcow2 -c of 64 MiB of noise); the next build works', async () => {
  const big = path.join(tmp, 'noise.img');
  const fd = fs.openSync(big, 'w');
  for (let i = 0; i < 64; i++) fs.writeSync(fd, crypto.randomBytes(1 << 20));
  fs.closeSync(fd);
  const page = await openPage(() => { delete window.showSaveFilePicker; });
  await page.click('button[data-preset="grow"]');
  await page.fill('#recipe', '[grow]\nimage = "noise.img"\nsize = "+1M"\n\n[output]\nformat = "qcow2"\ncompress = true\n');
  await page.setInputFiles('#files', [big]);
  await waitFor(page, () => document.getElementById('file-list').textContent.includes('noise.img'), 'the file list');
  await page.click('#build');
  await waitFor(page, () => / — /.test(document.getElementById('status').textContent), 'progress', 30000);
  await page.click('#cancel');
  const status = await page.textContent('#status');
  if (status !== 'Cancelled.') throw new Error(`after Cancel: ${status}`);
  if (!(await page.isDisabled('#cancel')) || (await page.isDisabled('#build'))) throw new Error('buttons not reset after Cancel');
  await page.screenshot({ path: path.join(shots, 'build-cancelled.png'), fullPage: true });
  await page.click('button[data-preset="raw"]');
  await page.fill('#f-size', '8M');
  await page.click('#build');
  const again = await waitDone(page);
  if (!again.startsWith('Built')) throw new Error(`after Cancel: ${again}`);
  await page.close();
});

await test('?recipe=URL: the page fetches the recipe (same origin) into the editor', async () => {
  const page = await ctx.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  await page.route(/\/workshop\/disk\.toml$/, (route) => route.fulfill({
    contentType: 'text/plain',
    body: '[output]\nformat = "vhdx"\n\n[disk]\nsize = "96M"\ntable = "gpt"\n\n[[partition]]\ntype = "8300"\nname = "from-url"\nsize = "rest"\n',
  }));
  await page.goto(`${origin}/index.html?embed=1&recipe=${encodeURIComponent('workshop/disk.toml')}`);
  await waitFor(page, () => document.getElementById('recipe').value.includes('from-url'), 'the fetched recipe');
  if ((await page.inputValue('#f-format')) !== 'vhdx' || (await page.inputValue('#f-size')) !== '96M') throw new Error('the form did not follow the fetched recipe');
  await page.close();
});

await ctx.close();
server.kill();
fs.rmSync(profile, { recursive: true, force: true });
for (const p of problems) { failed++; console.log(`FAIL  ${p}`); }
console.log(`browser: ${failed} failed, ${pending} pending; screenshots in ${shots}`);
process.exit(failed || (STRICT && pending) ? 1 : 0);
