/**
 * Where the test bed's cached binaries live. scripts/testbed/build.sh (via `make testbed`) builds
 * them into <cache>/bin/<name>-<version> and links <name> beside each.
 */
import { accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Options for {@link binPath}. */
export interface BinOptions {
  /** The cache root; default {@link defaultCacheDir}. */
  cacheDir?: string;
}

/**
 * The default cache root: $SLUICE_CACHE when set, else ~/.cache/sluice — exactly as
 * scripts/testbed/versions.sh resolves it, so tests find the binaries build.sh (and the Makefile,
 * which exports SLUICE_CACHE) put there rather than a different cache.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.SLUICE_CACHE || join(homedir(), '.cache', 'sluice');
}

/**
 * Absolute path of the cached test-bed binary `name` (minio, etcd, kube-apiserver, kubectl, helm).
 * Throws an Error naming `make testbed` when it is missing or not executable, so a test fails
 * with the fix in its message rather than with a bare ENOENT from spawn.
 */
export function binPath(name: string, opts: BinOptions = {}): string {
  const path = join(opts.cacheDir ?? defaultCacheDir(), 'bin', name);
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(
      `test-bed binary ${name} not found at ${path}: run \`make testbed\` (scripts/testbed/build.sh ${name})`,
    );
  }
  return path;
}
