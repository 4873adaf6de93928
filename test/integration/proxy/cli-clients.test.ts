/**
 * Third-party clients through the proxy, unchanged, with keys the backend has never seen: the
 * AWS CLI (cp/sync/ls/rm and a 100 MiB multipart upload), boto3 and rclone.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { awsCli, boto3, rclone } from '../../testbed/clients.ts';
import type { S3Target } from '../../testbed/clients.ts';
import { CLIENT_KEYS, startStack } from './stack.ts';
import type { Stack } from './stack.ts';

const B = 'cli-clients';
let s: Stack;
let t: S3Target;

before(async () => {
  s = await startStack({ buckets: [B] });
  await s.client().send(new CreateBucketCommand({ Bucket: B }));
  t = { endpoint: s.proxy.url, ...CLIENT_KEYS };
});
after(async () => {
  await s?.stop();
});

async function fileSha(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

void describe('AWS CLI', () => {
  void test('cp up and down, ls, sync, rm', async () => {
    const src = join(s.dir, 'small.txt');
    writeFileSync(src, 'from the aws cli\n');
    let r = await awsCli(t, ['s3', 'cp', src, `s3://${B}/aws/small.txt`]);
    assert.equal(r.code, 0, r.stderr);
    r = await awsCli(t, ['s3', 'ls', `s3://${B}/aws/`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /small\.txt/);
    const back = join(s.dir, 'back.txt');
    r = await awsCli(t, ['s3', 'cp', `s3://${B}/aws/small.txt`, back]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(back, 'utf8'), 'from the aws cli\n');
    const tree = join(s.dir, 'tree');
    mkdirSync(join(tree, 'sub'), { recursive: true });
    for (const f of ['a.txt', 'sub/b.txt', 'sub/c d.txt']) writeFileSync(join(tree, f), f);
    r = await awsCli(t, ['s3', 'sync', tree, `s3://${B}/sync/`]);
    assert.equal(r.code, 0, r.stderr);
    r = await awsCli(t, ['s3', 'ls', '--recursive', `s3://${B}/sync/`]);
    assert.equal(r.stdout.trim().split('\n').length, 3, r.stdout);
    r = await awsCli(t, ['s3', 'rm', '--recursive', `s3://${B}/sync/`]);
    assert.equal(r.code, 0, r.stderr);
    r = await awsCli(t, ['s3', 'ls', '--recursive', `s3://${B}/sync/`]);
    assert.equal(r.stdout.trim(), '');
  });

  void test('a 100 MiB multipart upload and download, byte-identical', async () => {
    const big = join(s.dir, 'big.bin');
    const chunk = randomBytes(1024 * 1024);
    writeFileSync(
      big,
      Buffer.concat(Array.from({ length: 100 }, (_, i) => (i % 2 ? chunk : chunk.reverse()))),
    );
    let r = await awsCli(t, ['s3', 'cp', big, `s3://${B}/aws/big.bin`], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stderr);
    const head = await s.direct().send(new HeadObjectCommand({ Bucket: B, Key: 'aws/big.bin' }));
    assert.equal(head.ContentLength, 100 * 1024 * 1024);
    assert.match(head.ETag ?? '', /-\d+"$/, 'stored as a multipart object');
    const back = join(s.dir, 'big.back');
    r = await awsCli(t, ['s3', 'cp', `s3://${B}/aws/big.bin`, back], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await fileSha(back), await fileSha(big));
  });
});

void describe('boto3', () => {
  void test('put, get, list, multipart upload_fileobj, delete', async () => {
    const r = await boto3(
      t,
      `
import io
s3.put_object(Bucket="${B}", Key="boto/one", Body=b"boto body")
assert s3.get_object(Bucket="${B}", Key="boto/one")["Body"].read() == b"boto body"
data = os.urandom(12 * 1024 * 1024)
from boto3.s3.transfer import TransferConfig
s3.upload_fileobj(io.BytesIO(data), "${B}", "boto/multi", Config=TransferConfig(multipart_threshold=5*1024*1024, multipart_chunksize=5*1024*1024))
assert s3.get_object(Bucket="${B}", Key="boto/multi")["Body"].read() == data
keys = [o["Key"] for o in s3.list_objects_v2(Bucket="${B}", Prefix="boto/")["Contents"]]
assert keys == ["boto/multi", "boto/one"], keys
s3.delete_object(Bucket="${B}", Key="boto/one")
url = s3.generate_presigned_url("get_object", Params={"Bucket": "${B}", "Key": "boto/multi"}, ExpiresIn=60)
import urllib.request
assert urllib.request.urlopen(url).read() == data
print("ok")
`,
      { timeoutMs: 120_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ok/);
  });
});

void describe('rclone', () => {
  void test('copy, lsf, check, delete', async () => {
    const dir = join(s.dir, 'rc');
    mkdirSync(join(dir, 'x'), { recursive: true });
    writeFileSync(join(dir, 'one.txt'), 'rclone one');
    writeFileSync(join(dir, 'x', 'two.bin'), randomBytes(9 * 1024 * 1024));
    let r = await rclone(t, ['copy', dir, `s3:${B}/rc`], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    r = await rclone(t, ['lsf', '-R', `s3:${B}/rc`]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n').sort(), ['one.txt', 'x/', 'x/two.bin']);
    r = await rclone(t, ['check', dir, `s3:${B}/rc`], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    r = await rclone(t, ['delete', `s3:${B}/rc`]);
    assert.equal(r.code, 0, r.stderr);
    r = await rclone(t, ['lsf', '-R', `s3:${B}/rc`]);
    assert.equal(r.stdout.trim(), '');
  });
});
