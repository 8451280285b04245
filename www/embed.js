// The embedding example's script (docs/embedding.md).
import * as imgforge from './imgforge.js';

const recipe = `# A 64 MiB sparse disk with an empty partition: the workshop's first step
[output]
format = "raw"

[disk]
size = "64M"
table = "gpt"

[[partition]]
type = "8300"
name = "data"
size = "rest"
`;

// 1. The iframe: preset and recipe in the query string.
const params = new URLSearchParams({ embed: '1', preset: 'raw', recipe });
document.getElementById('builder').src = `index.html?${params}`;

// 2. The module API.
document.getElementById('api-recipe').textContent = recipe;
const status = document.getElementById('api-status');
document.getElementById('api-build').addEventListener('click', async () => {
  status.textContent = 'Building…';
  try {
    await imgforge.init();
    const blob = await imgforge.build(recipe, {}, {
      onProgress: (phase, done, total) => { status.textContent = `${phase}: ${done} of ${total} bytes`; },
    });
    const info = await imgforge.inspect(blob);
    status.textContent = `Built ${blob.size} bytes.`;
    const a = document.getElementById('api-download');
    a.href = URL.createObjectURL(blob);
    a.download = 'disk.img';
    a.textContent = 'Download disk.img';
    a.hidden = false;
    const pre = document.getElementById('api-info');
    pre.textContent = JSON.stringify(info, null, 2);
    pre.hidden = false;
  } catch (e) {
    status.textContent = `Failed: ${e.message}`;
  }
});
