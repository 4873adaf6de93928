/**
 * watchFiles against kubelet's Secret-volume updates: a new timestamped directory, the `..data`
 * symlink renamed onto it, the old directory deleted. The poll is off, so only change events can
 * report a swap.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { watchFiles } from '../../../proxy/credentials.ts';

const root = mkdtempSync(join(tmpdir(), 'sluice-watch-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A Secret volume at `vol` whose one item is `item` (maybe in a subdirectory), as kubelet lays it out. */
function kubeletVolume(vol: string, item: string): { swap: (content: string) => void } {
  mkdirSync(vol);
  let n = 0;
  let current: string | undefined;
  const swap = (content: string): void => {
    const ts = `..2026_12_07_00_00_00.${n++}`;
    mkdirSync(join(vol, ts, item, '..'), { recursive: true });
    writeFileSync(join(vol, ts, item), content);
    symlinkSync(ts, join(vol, '..data_tmp'));
    renameSync(join(vol, '..data_tmp'), join(vol, '..data'));
    if (current) rmSync(join(vol, current), { recursive: true });
    current = ts;
  };
  swap('v0');
  // The item's top-level name is a symlink through ..data, as kubelet makes it.
  const top = item.split('/')[0]!;
  symlinkSync(join('..data', top), join(vol, top));
  return { swap };
}

async function until(check: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return check();
}

for (const item of ['creds.json', 'aws/creds.json']) {
  void test(`every swap is seen, item ${item}`, async () => {
    const vol = join(root, item.replace('/', '-'));
    const { swap } = kubeletVolume(vol, item);
    let changes = 0;
    const stop = watchFiles([join(vol, item)], () => changes++, 10, 0);
    try {
      for (let i = 1; i <= 3; i++) {
        // Past the debounce of the previous change, so each swap is its own event.
        await new Promise((r) => setTimeout(r, 100));
        const before = changes;
        swap(`v${i}`);
        assert.ok(await until(() => changes > before), `swap ${i} of ${item} reported`);
      }
    } finally {
      stop();
    }
  });
}
