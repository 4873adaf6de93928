/**
 * User errors at the CLI edge are one line on stderr and a non-zero exit, never a stack trace:
 * a bad flag or unreadable kubeconfig (exit 2), a proxy that cannot start (exit 1).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

const root = join(import.meta.dirname, '../..');
const sluice = (args: string[]) =>
  spawnSync(join(root, 'node_modules/.bin/node'), [join(root, 'bin/sluice.ts'), ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, KUBECONFIG: '/nonexistent/kubeconfig' },
  });
const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function oneLine(r: ReturnType<typeof sluice>, status: number, pattern: RegExp): void {
  assert.equal(r.status, status, r.stderr);
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'a stack trace');
}

void test('sluice operator: a bad flag value, an unreadable kubeconfig', () => {
  oneLine(sluice(['operator', '--workers', 'abc']), 2, /sluice operator: invalid configuration: .*workers/);
  oneLine(
    sluice(['operator', '--kubeconfig', join(dir, 'missing')]),
    2,
    /sluice operator: invalid configuration: .*missing/,
  );
});

void test('sluice operator: an API server it cannot reach at start: exit 1, not a process left serving /healthz', () => {
  const kubeconfig = join(dir, 'unreachable.yaml');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: c, cluster: {server: "https://127.0.0.1:9", insecure-skip-tls-verify: true}}]',
      'users: [{name: u, user: {token: t}}]',
      'contexts: [{name: x, context: {cluster: c, user: u}}]',
      'current-context: x',
    ].join('\n'),
  );
  const r = spawnSync(
    join(root, 'node_modules/.bin/node'),
    [
      join(root, 'bin/sluice.ts'),
      'operator',
      '--kubeconfig',
      kubeconfig,
      '--health-port',
      '0',
      '--metrics-port',
      '0',
      '--webhook-port',
      '0',
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  assert.equal(r.signal, null, 'still running after 30 s');
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stdout, /operator could not start/);
});

void test('sluice proxy: a credentials file that is not there', () => {
  const config = join(dir, 'proxy.json');
  writeFileSync(
    config,
    JSON.stringify({
      listen: '127.0.0.1:0',
      admin: '127.0.0.1:0',
      stores: [{ name: 's', endpoints: ['http://127.0.0.1:9'], credentials: { file: 'absent.json' } }],
      grants: [],
    }),
  );
  oneLine(sluice(['proxy', '--config', config]), 1, /sluice proxy: could not start: .*absent\.json/);
});

// Commander exits 1 on a usage error, which `sluice inject` documents as "a pod template would
// be denied".
void test('a usage error exits 2 in every subcommand; help exits 0', () => {
  for (const args of [
    ['inject', '--bogus'],
    ['proxy', '--nope'],
    ['operator', '--x'],
    ['inject', 'extra', 'args'],
  ]) {
    const r = sluice(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /error: /);
  }
  assert.equal(sluice(['inject', '--help']).status, 0);
  assert.equal(sluice(['--version']).status, 0);
});

void test('an unknown subcommand, even one named like an Object.prototype member, exits 2 without a stack trace', () => {
  for (const name of ['nope', 'toString', 'constructor']) oneLine(sluice([name]), 2, /unknown command/);
});
