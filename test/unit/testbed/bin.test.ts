import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binPath } from '../../testbed/bin.ts';

void describe('binPath', () => {
  const cache = mkdtempSync(join(tmpdir(), 'sluice-bin-test-'));
  after(() => rmSync(cache, { recursive: true, force: true }));

  void test('resolves <cacheDir>/bin/<name> when it is executable', () => {
    mkdirSync(join(cache, 'bin'));
    writeFileSync(join(cache, 'bin', 'minio'), '#!/bin/sh\n');
    chmodSync(join(cache, 'bin', 'minio'), 0o755);
    assert.equal(binPath('minio', { cacheDir: cache }), join(cache, 'bin', 'minio'));
  });

  void test('a missing binary is an error naming the path and `make testbed`', () => {
    assert.throws(
      () => binPath('etcd', { cacheDir: cache }),
      (err: Error) => {
        assert.match(err.message, /make testbed/);
        assert.ok(err.message.includes(join(cache, 'bin', 'etcd')));
        return true;
      },
    );
  });
});
