/**
 * proxy/runtime-deps.ts loads prom-client and undici classes from the modules that define them;
 * these must be the very classes the packages export, and undici's request API must be mixed in
 * as its entry point does. Run in a child process so this test's own imports cannot load the
 * packages' entry points first and hide a missing mix-in.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function run(script: string): string {
  return execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  }).trim();
}

void test('undici Pool/Client from runtime-deps have the request API without the package entry point', () => {
  const out = run(`
    const deps = await import('./proxy/runtime-deps.ts');
    const { createRequire } = await import('node:module');
    const loaded = Object.keys(createRequire(import.meta.url).cache).some((p) => p.endsWith('/undici/index.js'));
    const pool = new deps.Pool('http://127.0.0.1:9');
    const client = new deps.Client('http://127.0.0.1:9');
    console.log(JSON.stringify({
      loaded,
      request: [typeof pool.request, typeof client.request, typeof pool.stream, typeof pool.dispatch],
    }));
    await Promise.all([pool.close(), client.close()]);
  `);
  const r = JSON.parse(out) as { loaded: boolean; request: string[] };
  assert.equal(r.loaded, false, "the sidecar must not load undici's entry point");
  assert.deepEqual(r.request, ['function', 'function', 'function', 'function']);
});

void test('they are the classes the packages export', async () => {
  const deps = await import('../../../proxy/runtime-deps.ts');
  const undici = await import('undici');
  const prom = await import('prom-client');
  assert.equal(deps.Pool, undici.Pool);
  assert.equal(deps.Client, undici.Client);
  assert.equal(deps.Counter, prom.Counter);
  assert.equal(deps.Gauge, prom.Gauge);
  assert.equal(deps.Histogram, prom.Histogram);
  assert.equal(deps.Registry, prom.Registry);
});
