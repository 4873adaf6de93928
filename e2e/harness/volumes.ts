/**
 * Materialises a pod's Secret and downward-API volumes into local directories the way kubelet
 * does, including its atomic writer: files live in a timestamped `..<ts>` directory, `..data`
 * is a symlink to it, and each key is a symlink `key -> ..data/key`. An update writes a new
 * timestamped directory and swaps `..data` with a rename, which is exactly what the sidecar's
 * reload logic must survive.
 * (kubernetes/pkg/volume/util/atomic_writer.go)
 */
import { mkdir, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

let generation = 0;

/** Writes `files` into `dir` atomically, replacing whatever set of files was there. */
export async function atomicWrite(dir: string, files: ReadonlyMap<string, Buffer>): Promise<void> {
  await mkdir(dir, { recursive: true });
  const stamp = `..${new Date().toISOString().replace(/[:.]/g, '_')}.${process.pid}.${generation++}`;
  const staged = join(dir, stamp);
  await mkdir(staged);
  for (const [name, content] of files) await writeFile(join(staged, name), content, { mode: 0o644 });

  let previous: string | undefined;
  try {
    previous = await readlink(join(dir, '..data'));
  } catch {
    previous = undefined;
  }
  const tmpLink = join(dir, '..data_tmp');
  await rm(tmpLink, { force: true });
  await symlink(stamp, tmpLink);
  await rename(tmpLink, join(dir, '..data'));

  // User-visible names point through ..data, so they follow the swap; add new ones, drop stale ones.
  const entries = await readdir(dir);
  for (const name of files.keys()) {
    if (!entries.includes(name)) await symlink(join('..data', name), join(dir, name));
  }
  for (const name of entries) {
    if (!name.startsWith('..') && !files.has(name)) await rm(join(dir, name), { force: true });
  }
  if (previous && previous !== stamp) await rm(join(dir, previous), { recursive: true, force: true });
}

/** Renders labels or annotations the way the downward API does: `key="escaped value"` lines, sorted. */
export function renderDownwardMap(map: Readonly<Record<string, string>> | undefined): Buffer {
  const lines = Object.keys(map ?? {})
    .sort()
    .map((k) => `${k}=${JSON.stringify(map?.[k] ?? '')}`);
  return Buffer.from(lines.join('\n'));
}
