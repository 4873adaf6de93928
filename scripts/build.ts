/**
 * The shipped build (tsconfig.build.json → dist/): `node scripts/build.ts`, also `npm run build`.
 * The e2e harness and the benchmarks call buildDist() so they always run what the image ships,
 * never a stale dist/ — tsc is incremental, so a build with nothing changed takes ~2 s.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The built CLI's entry point, relative to the repo root (the image's WORKDIR is the same). */
export const DIST_ENTRY = 'dist/bin/sluice.js';

/** Compiles bin/, proxy/ and operator/ into dist/; returns the absolute path of the CLI. */
export function buildDist(): string {
  execFileSync(
    process.execPath,
    [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(REPO_ROOT, 'tsconfig.build.json')],
    { cwd: REPO_ROOT, stdio: 'inherit' },
  );
  return join(REPO_ROOT, DIST_ENTRY);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`built ${buildDist()}`);
}
