// The third-party S3 clients of the test bed (Debian's AWS CLI, boto3, rclone) really work
// against a MinIO node: each lists and copies objects.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { awsCli, boto3, rclone } from '../../testbed/clients.ts';
import type { S3Target } from '../../testbed/clients.ts';
import { startMinioCluster } from '../../testbed/minio.ts';
import type { MinioCluster } from '../../testbed/minio.ts';

void describe('real S3 clients against a MinIO node', () => {
  let cluster: MinioCluster;
  let target: S3Target;
  let work: string;

  before(async () => {
    cluster = await startMinioCluster({ nodes: 4 });
    target = {
      endpoint: cluster.nodes[0]!.url,
      accessKeyId: cluster.rootUser,
      secretAccessKey: cluster.rootPassword,
      region: cluster.region,
    };
    work = mkdtempSync(join(tmpdir(), 'sluice-clients-test-'));
  });
  after(async () => {
    await cluster?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  void test('AWS CLI: mb, cp up, ls, cp down', async () => {
    const mb = await awsCli(target, ['s3', 'mb', 's3://cli-aws']);
    assert.equal(mb.code, 0, mb.stderr);
    writeFileSync(join(work, 'up.txt'), 'from the aws cli');
    const up = await awsCli(target, ['s3', 'cp', 'up.txt', 's3://cli-aws/dir/up.txt'], { cwd: work });
    assert.equal(up.code, 0, up.stderr);
    const ls = await awsCli(target, ['s3', 'ls', 's3://cli-aws/dir/']);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /\bup\.txt\b/);
    const down = await awsCli(target, ['s3', 'cp', 's3://cli-aws/dir/up.txt', 'down.txt'], { cwd: work });
    assert.equal(down.code, 0, down.stderr);
    assert.equal(readFileSync(join(work, 'down.txt'), 'utf8'), 'from the aws cli');
  });

  void test('AWS CLI: wrong secret is rejected (the credentials really are checked)', async () => {
    const ls = await awsCli({ ...target, secretAccessKey: 'not-the-secret' }, ['s3', 'ls', 's3://cli-aws/']);
    assert.notEqual(ls.code, 0);
    assert.match(ls.stderr, /SignatureDoesNotMatch|AccessDenied|InvalidAccessKeyId/);
  });

  void test('boto3: create bucket, put, list, get', async () => {
    const r = await boto3(
      target,
      `
s3.create_bucket(Bucket="cli-boto3")
s3.put_object(Bucket="cli-boto3", Key="k1", Body=b"from boto3")
keys = [o["Key"] for o in s3.list_objects_v2(Bucket="cli-boto3")["Contents"]]
body = s3.get_object(Bucket="cli-boto3", Key="k1")["Body"].read().decode()
print(json.dumps({"keys": keys, "body": body}))
`,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { keys: ['k1'], body: 'from boto3' });
  });

  void test('rclone: mkdir, copyto, lsf, cat (configured only by environment)', async () => {
    const mk = await rclone(target, ['mkdir', 's3:cli-rclone']);
    assert.equal(mk.code, 0, mk.stderr);
    writeFileSync(join(work, 'r.txt'), 'from rclone');
    const cp = await rclone(target, ['copyto', join(work, 'r.txt'), 's3:cli-rclone/r.txt']);
    assert.equal(cp.code, 0, cp.stderr);
    const ls = await rclone(target, ['lsf', 's3:cli-rclone']);
    assert.equal(ls.code, 0, ls.stderr);
    assert.deepEqual(ls.stdout.trim().split('\n'), ['r.txt']);
    const cat = await rclone(target, ['cat', 's3:cli-rclone/r.txt']);
    assert.equal(cat.code, 0, cat.stderr);
    assert.equal(cat.stdout, 'from rclone');
  });

  void test('a client run is bounded by its timeout', async () => {
    cluster.setDelay(1, 5000);
    try {
      const r = await awsCli({ ...target, endpoint: cluster.nodes[1]!.url }, ['s3', 'ls'], {
        timeoutMs: 1500,
      });
      assert.equal(r.timedOut, true);
      assert.equal(r.code, null);
    } finally {
      cluster.setDelay(1, 0);
    }
  });
});
