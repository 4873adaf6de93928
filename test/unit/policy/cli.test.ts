/** `sluice policy check`: output and exit codes, through the pure `check` and the real CLI. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { check } from '../../../proxy/policy/cli.ts';

const CONFIG = `
virtualHostDomains: [s3.local]
stores:
  - name: s1
    endpoints: [http://127.0.0.1:9000]
    credentials: { file: creds.json }
grants:
  - { store: s1, bucket: data, prefixes: [team/], access: [read, write, list, delete], source: team-a/rw }
  - { store: s1, bucket: logs, access: [read], source: team-a/logs-ro }
`;

function run(method: string, url: string, headers: string[] = [], configText = CONFIG) {
  return check({ configText, configFile: '/etc/sluice/proxy.yaml', method, url, headers });
}

void describe('policy check', () => {
  void test('allow names the operation and the grant source; exit 0', () => {
    const out = run('GET', 'http://127.0.0.1:7480/data/team/a.txt');
    assert.equal(out.exitCode, 0);
    assert.equal(
      out.text,
      'decision: allow\noperation: GetObject\nbucket: data\nkey: team/a.txt\nstore: s1\ngrant: team-a/rw\n',
    );
  });
  void test('copy names both grants', () => {
    const out = run('PUT', '/data/team/b', ['x-amz-copy-source: /logs/2026/x']);
    assert.equal(out.exitCode, 0);
    assert.match(out.text, /operation: CopyObject\n/);
    assert.match(out.text, /grant: team-a\/logs-ro, team-a\/rw\n/);
  });
  void test('deny says why; exit 1', () => {
    const out = run('DELETE', '/logs/x');
    assert.equal(out.exitCode, 1);
    assert.match(out.text, /decision: deny\noperation: DeleteObject\n/);
    assert.match(
      out.text,
      /reason: no-grant\nerror: 403 AccessDenied\nmessage: no grant allows delete on logs\/x\n/,
    );
  });
  void test('list prefix outside the grant', () => {
    const out = run('GET', '/data?list-type=2&prefix=other/');
    assert.equal(out.exitCode, 1);
    assert.match(out.text, /reason: list-prefix/);
  });
  void test('ListBuckets prints the filter', () => {
    const out = run('GET', 'http://127.0.0.1:7480/');
    assert.equal(out.exitCode, 0);
    assert.match(out.text, /then: the ListBuckets response is filtered to: data, logs\n/);
  });
  void test('DeleteObjects prints the body check', () => {
    const out = run('POST', '/data?delete');
    assert.equal(out.exitCode, 0);
    assert.match(out.text, /then: every <Key> of the body/);
  });
  void test('virtual-host addressing via -H Host', () => {
    const out = run('GET', '/team/a', ['Host: data.s3.local:7480']);
    assert.equal(out.exitCode, 0);
    assert.match(out.text, /bucket: data\nkey: team\/a\n/);
  });
  void test('path tricks are reported as bad-target', () => {
    const out = run('GET', '/data/team/%2e%2e/secret');
    assert.equal(out.exitCode, 1);
    assert.match(out.text, /reason: bad-target/);
  });
  void test('usage errors exit 2', () => {
    assert.equal(run('GET', 'data/x').exitCode, 2);
    assert.equal(run('GET', '/data/x', ['no-colon']).exitCode, 2);
    const bad = run('GET', '/data/x', [], 'grants: [{store: s1, bucket: data, access: [fly]}]\nstores: []');
    assert.equal(bad.exitCode, 2);
    assert.match(bad.text, /grants\[0\]\.store|grants\[0\]\.access/);
  });
  void test('the real CLI exits 0 / 1 / 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-policy-cli-'));
    try {
      const file = join(dir, 'proxy.yaml');
      writeFileSync(file, CONFIG);
      const cli = (...args: string[]): { code: number; out: string } => {
        try {
          const out = execFileSync(process.execPath, ['bin/sluice.ts', 'policy', 'check', ...args], {
            encoding: 'utf8',
            stdio: 'pipe',
          });
          return { code: 0, out };
        } catch (err) {
          const e = err as { status: number; stdout: string; stderr: string };
          return { code: e.status, out: e.stdout + e.stderr };
        }
      };
      const allow = cli('--config', file, 'GET', '/data/team/x');
      assert.equal(allow.code, 0, allow.out);
      assert.match(allow.out, /grant: team-a\/rw/);
      const deny = cli('--config', file, '-H', 'x-amz-acl: public-read', 'PUT', '/data/team/x');
      assert.equal(deny.code, 1, deny.out);
      assert.match(deny.out, /no grant gives config-write/);
      assert.equal(cli('--config', file, 'GET').code, 2);
      assert.equal(cli('--config', join(dir, 'missing.yaml'), 'GET', '/').code, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
