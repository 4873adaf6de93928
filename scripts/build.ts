/**
 * The shipped build (tsconfig.build.json → dist/): `node scripts/build.ts`, also `npm run build`.
 * The e2e journey, the demo, the image test and the benchmarks call buildDist() so they run what
 * the image ships. Every build is whole (~2 s): tsc emits into a fresh temp dir that then
 * replaces dist/, so nothing stale survives — no file of a deleted source, no file an incremental
 * build would think it had already written. It only emits (`--noCheck`): types are checked by
 * `make check` (`tsc --noEmit`), which CI runs first, so a type error never hides a test run.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(REPO_ROOT, 'dist');

/** The built CLI's entry point, relative to the repo root (the image's WORKDIR is the same). */
export const DIST_ENTRY = 'dist/bin/sluice.js';

/** Compiles bin/, proxy/ and operator/ into dist/; returns the absolute path of the CLI. */
export function buildDist(): string {
  // In the repo, so the renames below stay on one file system.
  const tmp = mkdtempSync(join(REPO_ROOT, '.dist-'));
  try {
    // mkdtemp makes the directory 0700, and it becomes dist/: the image copies it as it is and
    // runs as user 65532, which could then not read its own code.
    chmodSync(tmp, 0o755);
    execFileSync(
      process.execPath,
      [
        join(REPO_ROOT, 'node_modules/typescript/bin/tsc'),
        '-p',
        join(REPO_ROOT, 'tsconfig.build.json'),
        '--noCheck',
        '--outDir',
        tmp,
      ],
      { cwd: REPO_ROOT, stdio: 'inherit' },
    );
    const old = `${tmp}-old`;
    try {
      renameSync(DIST, old);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    try {
      renameSync(tmp, DIST);
    } catch (err) {
      // Another build swapped its own, equally fresh, dist/ in meanwhile: keep that one.
      if (!['ENOTEMPTY', 'EEXIST'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
    }
    rmSync(old, { recursive: true, force: true });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return join(REPO_ROOT, DIST_ENTRY);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`built ${buildDist()}`);
}
