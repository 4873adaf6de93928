/**
 * Every S3 operation the issue lists, through the proxy with @aws-sdk/client-s3 v3 (default
 * checksums on) and lib-storage, against the real MinIO cluster. The client holds keys the
 * backend has never seen: each success proves the proxy replaced client auth with the store's.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketLocationCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { rawRequest } from './raw.ts';
import { startStack } from './stack.ts';
import type { Stack } from './stack.ts';

const B = 'sdk-ops';
const B2 = 'sdk-ops-two';
const B_TMP = 'sdk-ops-tmp';
let s: Stack;
let c: S3Client;

before(async () => {
  s = await startStack({ buckets: [B, B2, B_TMP] });
  c = s.client();
  await c.send(new CreateBucketCommand({ Bucket: B }));
  await c.send(new CreateBucketCommand({ Bucket: B2 }));
});
after(async () => {
  await s?.stop();
});

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

void describe('objects', () => {
  void test('put / head / get / delete', async () => {
    await c.send(
      new PutObjectCommand({ Bucket: B, Key: 'o/plain.txt', Body: 'hello', ContentType: 'text/plain' }),
    );
    const h = await c.send(new HeadObjectCommand({ Bucket: B, Key: 'o/plain.txt' }));
    assert.equal(h.ContentLength, 5);
    assert.equal(h.ContentType, 'text/plain');
    const g = await c.send(new GetObjectCommand({ Bucket: B, Key: 'o/plain.txt' }));
    assert.equal(await g.Body!.transformToString(), 'hello');
    await c.send(new DeleteObjectCommand({ Bucket: B, Key: 'o/plain.txt' }));
    await assert.rejects(c.send(new HeadObjectCommand({ Bucket: B, Key: 'o/plain.txt' })), {
      name: 'NotFound',
    });
  });

  void test('keys with spaces, unicode, +, = and ~ round-trip', async () => {
    const key = 'odd/a b+c=d~é ü/€(1)!*.txt';
    await c.send(new PutObjectCommand({ Bucket: B, Key: key, Body: 'x' }));
    const l = await c.send(new ListObjectsV2Command({ Bucket: B, Prefix: 'odd/' }));
    assert.deepEqual(
      l.Contents?.map((o) => o.Key),
      [key],
    );
    const g = await c.send(new GetObjectCommand({ Bucket: B, Key: key }));
    assert.equal(await g.Body!.transformToString(), 'x');
  });

  void test('Range GET', async () => {
    await c.send(new PutObjectCommand({ Bucket: B, Key: 'o/range', Body: '0123456789' }));
    const g = await c.send(new GetObjectCommand({ Bucket: B, Key: 'o/range', Range: 'bytes=2-5' }));
    assert.equal(g.ContentRange, 'bytes 2-5/10');
    assert.equal(await g.Body!.transformToString(), '2345');
  });

  void test('a streamed body (aws-chunked with a checksum trailer) is stored intact', async () => {
    const data = randomBytes(300 * 1024 + 7);
    await c.send(
      new PutObjectCommand({
        Bucket: B,
        Key: 'o/stream',
        Body: Readable.from([data]),
        ContentLength: data.length,
      }),
    );
    const g = await s.direct().send(new GetObjectCommand({ Bucket: B, Key: 'o/stream' }));
    assert.equal(sha(Buffer.from(await g.Body!.transformToByteArray())), sha(data));
    const line = s.logs.find(
      (l) =>
        (l.access as { key?: string } | undefined)?.key === 'o/stream' &&
        (l.access as { method: string }).method === 'PUT',
    );
    assert.equal((line?.access as { payload: string }).payload, 'chunked');
  });

  void test('CopyObject and tagging', async () => {
    await c.send(new PutObjectCommand({ Bucket: B, Key: 'o/src', Body: 'copy me' }));
    await c.send(new CopyObjectCommand({ Bucket: B2, Key: 'dst', CopySource: `${B}/o/src` }));
    const g = await c.send(new GetObjectCommand({ Bucket: B2, Key: 'dst' }));
    assert.equal(await g.Body!.transformToString(), 'copy me');
    await c.send(
      new PutObjectTaggingCommand({
        Bucket: B2,
        Key: 'dst',
        Tagging: { TagSet: [{ Key: 'team', Value: 'a' }] },
      }),
    );
    const t = await c.send(new GetObjectTaggingCommand({ Bucket: B2, Key: 'dst' }));
    assert.deepEqual(t.TagSet, [{ Key: 'team', Value: 'a' }]);
  });

  void test('CopyObject from keys with #, ? and spaces (the copy source URL-encoded, as S3 asks)', async () => {
    for (const key of ['o/track #1.mp3', 'o/what?.txt', 'o/a b#c?d']) {
      await c.send(new PutObjectCommand({ Bucket: B, Key: key, Body: `body of ${key}` }));
      // A decoy at the key cut at ? or #: a backend that cut the source would copy this one.
      const cut = key.slice(0, Math.min(...['?', '#'].map((ch) => key.indexOf(ch)).filter((i) => i >= 0)));
      await c.send(new PutObjectCommand({ Bucket: B, Key: cut, Body: 'decoy' }));
      const source = `${B}/${key.split('/').map(encodeURIComponent).join('/')}`;
      await c.send(new CopyObjectCommand({ Bucket: B2, Key: 'copied', CopySource: source }));
      const g = await c.send(new GetObjectCommand({ Bucket: B2, Key: 'copied' }));
      assert.equal(await g.Body!.transformToString(), `body of ${key}`, key);
    }
  });

  void test('user metadata with Unicode spaces (UTF-8, as minio-go sends it) is signed as MinIO checks it', async () => {
    const value = Buffer.from('Prix\u00a0: 10\u00a0€ \u3000 東京', 'utf8');
    const head = Buffer.concat([
      Buffer.from(
        `PUT /${B}/o/nbsp HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\nx-amz-meta-title: `,
      ),
      value,
      Buffer.from('\r\n\r\nok'),
    ]);
    const r = await rawRequest(s.proxy.url, head);
    assert.equal(r.status, 200, r.body);
    const h = await s.direct().send(new HeadObjectCommand({ Bucket: B, Key: 'o/nbsp' }));
    // MinIO answers non-ASCII metadata RFC 2047-encoded: the stored bytes, exactly as sent.
    const encoded = /^=\?UTF-8\?b\?(.*)\?=$/i.exec(h.Metadata?.title ?? '');
    assert.ok(encoded, h.Metadata?.title);
    assert.ok(Buffer.from(encoded[1]!, 'base64').equals(value));
  });

  void test('DeleteObjects', async () => {
    for (const k of ['d/1', 'd/2', 'd/3']) await c.send(new PutObjectCommand({ Bucket: B, Key: k, Body: k }));
    const r = await c.send(
      new DeleteObjectsCommand({
        Bucket: B,
        Delete: { Objects: [{ Key: 'd/1' }, { Key: 'd/2' }, { Key: 'd/3' }] },
      }),
    );
    assert.equal(r.Deleted?.length, 3);
    const l = await c.send(new ListObjectsV2Command({ Bucket: B, Prefix: 'd/' }));
    assert.equal(l.KeyCount, 0);
  });
});

void describe('listing', () => {
  before(async () => {
    for (const k of ['l/a', 'l/b', 'l/c/d'])
      await c.send(new PutObjectCommand({ Bucket: B, Key: k, Body: k }));
  });
  void test('ListObjectsV2 with delimiter and pagination', async () => {
    const p1 = await c.send(
      new ListObjectsV2Command({ Bucket: B, Prefix: 'l/', Delimiter: '/', MaxKeys: 1 }),
    );
    assert.equal(p1.IsTruncated, true);
    const p2 = await c.send(
      new ListObjectsV2Command({
        Bucket: B,
        Prefix: 'l/',
        Delimiter: '/',
        ContinuationToken: p1.NextContinuationToken,
      }),
    );
    const keys = [...(p1.Contents ?? []), ...(p2.Contents ?? [])].map((o) => o.Key);
    const prefixes = [...(p1.CommonPrefixes ?? []), ...(p2.CommonPrefixes ?? [])].map((p) => p.Prefix);
    assert.deepEqual(keys, ['l/a', 'l/b']);
    assert.deepEqual(prefixes, ['l/c/']);
  });
  void test('ListObjects (v1)', async () => {
    const r = await c.send(new ListObjectsCommand({ Bucket: B, Prefix: 'l/' }));
    assert.deepEqual(
      r.Contents?.map((o) => o.Key),
      ['l/a', 'l/b', 'l/c/d'],
    );
  });
  void test('ListBuckets is filtered to granted buckets; HeadBucket; GetBucketLocation', async () => {
    await s.direct().send(new CreateBucketCommand({ Bucket: 'not-granted-bucket' }));
    const r = await c.send(new ListBucketsCommand({}));
    const names = (r.Buckets ?? []).map((b) => b.Name);
    assert.ok(names.includes(B) && names.includes(B2));
    assert.ok(!names.includes('not-granted-bucket'));
    await c.send(new HeadBucketCommand({ Bucket: B }));
    const loc = await c.send(new GetBucketLocationCommand({ Bucket: B }));
    assert.ok(['', 'us-east-1', undefined].includes(loc.LocationConstraint));
  });
});

void describe('versioning', () => {
  void test('enable, write twice, list versions', async () => {
    await c.send(
      new PutBucketVersioningCommand({ Bucket: B2, VersioningConfiguration: { Status: 'Enabled' } }),
    );
    const v = await c.send(new GetBucketVersioningCommand({ Bucket: B2 }));
    assert.equal(v.Status, 'Enabled');
    await c.send(new PutObjectCommand({ Bucket: B2, Key: 'v/k', Body: 'one' }));
    await c.send(new PutObjectCommand({ Bucket: B2, Key: 'v/k', Body: 'two' }));
    const l = await c.send(new ListObjectVersionsCommand({ Bucket: B2, Prefix: 'v/' }));
    assert.equal(l.Versions?.length, 2);
    const old = l.Versions.find((x) => !x.IsLatest)!;
    const g = await c.send(new GetObjectCommand({ Bucket: B2, Key: 'v/k', VersionId: old.VersionId }));
    assert.equal(await g.Body!.transformToString(), 'one');
  });
});

void describe('multipart', () => {
  void test('create, upload parts, list parts, list uploads, upload part copy, complete', async () => {
    const part1 = randomBytes(5 * 1024 * 1024);
    await c.send(new PutObjectCommand({ Bucket: B, Key: 'mp/copysrc', Body: 'tail-from-copy' }));
    const { UploadId } = await c.send(new CreateMultipartUploadCommand({ Bucket: B, Key: 'mp/obj' }));
    const p1 = await c.send(
      new UploadPartCommand({ Bucket: B, Key: 'mp/obj', UploadId, PartNumber: 1, Body: part1 }),
    );
    const p2 = await c.send(
      new UploadPartCopyCommand({
        Bucket: B,
        Key: 'mp/obj',
        UploadId,
        PartNumber: 2,
        CopySource: `${B}/mp/copysrc`,
      }),
    );
    const parts = await c.send(new ListPartsCommand({ Bucket: B, Key: 'mp/obj', UploadId }));
    assert.equal(parts.Parts?.length, 2);
    const ups = await c.send(new ListMultipartUploadsCommand({ Bucket: B, Prefix: 'mp/obj' }));
    assert.ok(ups.Uploads?.some((u) => u.UploadId === UploadId));
    await c.send(
      new CompleteMultipartUploadCommand({
        Bucket: B,
        Key: 'mp/obj',
        UploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: p1.ETag },
            { PartNumber: 2, ETag: p2.CopyPartResult!.ETag },
          ],
        },
      }),
    );
    const g = await c.send(new GetObjectCommand({ Bucket: B, Key: 'mp/obj' }));
    const body = Buffer.from(await g.Body!.transformToByteArray());
    assert.equal(sha(body), sha(Buffer.concat([part1, Buffer.from('tail-from-copy')])));
  });

  void test('abort', async () => {
    const { UploadId } = await c.send(new CreateMultipartUploadCommand({ Bucket: B, Key: 'mp/aborted' }));
    await c.send(new UploadPartCommand({ Bucket: B, Key: 'mp/aborted', UploadId, PartNumber: 1, Body: 'x' }));
    await c.send(new AbortMultipartUploadCommand({ Bucket: B, Key: 'mp/aborted', UploadId }));
    const ups = await c.send(new ListMultipartUploadsCommand({ Bucket: B, Prefix: 'mp/aborted' }));
    assert.equal(ups.Uploads?.length ?? 0, 0);
  });

  void test('lib-storage Upload of a stream (parts sent aws-chunked with checksum trailers)', async () => {
    const data = randomBytes(12 * 1024 * 1024 + 123);
    const up = new Upload({
      client: c,
      params: {
        Bucket: B,
        Key: 'mp/lib-storage',
        Body: Readable.from([data.subarray(0, 7e6), data.subarray(7e6)]),
      },
      partSize: 5 * 1024 * 1024,
      queueSize: 2,
    });
    await up.done();
    const g = await s.direct().send(new GetObjectCommand({ Bucket: B, Key: 'mp/lib-storage' }));
    assert.equal(sha(Buffer.from(await g.Body!.transformToByteArray())), sha(data));
  });
});

void describe('presigned URLs made against the proxy (with keys the backend does not know)', () => {
  void test('PUT then GET', async () => {
    const putUrl = await getSignedUrl(c, new PutObjectCommand({ Bucket: B, Key: 'p/presigned' }), {
      expiresIn: 60,
    });
    const put = await fetch(putUrl, { method: 'PUT', body: 'via presigned' });
    assert.equal(put.status, 200, await put.text());
    const getUrl = await getSignedUrl(c, new GetObjectCommand({ Bucket: B, Key: 'p/presigned' }), {
      expiresIn: 60,
    });
    const get = await fetch(getUrl);
    assert.equal(get.status, 200);
    assert.equal(await get.text(), 'via presigned');
  });
});

void describe('buckets', () => {
  void test('create and delete', async () => {
    await c.send(new CreateBucketCommand({ Bucket: B_TMP }));
    await c.send(new HeadBucketCommand({ Bucket: B_TMP }));
    await c.send(new DeleteBucketCommand({ Bucket: B_TMP }));
    await assert.rejects(c.send(new HeadBucketCommand({ Bucket: B_TMP })));
  });
  void test('backend errors pass through untouched', async () => {
    await assert.rejects(c.send(new GetObjectCommand({ Bucket: B, Key: 'missing/key' })), (err: Error) => {
      assert.equal(err.name, 'NoSuchKey');
      return true;
    });
  });
});
