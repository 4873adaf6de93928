/**
 * Every payload mode and client auth style, sent by hand so each is exercised exactly: the
 * object must land at MinIO byte for byte, checksums must still be verified by the backend.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { request } from 'undici';
import { awsChunked, s3Code } from './raw.ts';
import { startStack } from './stack.ts';
import type { Stack } from './stack.ts';

const B = 'payload-modes';
let s: Stack;

before(async () => {
  s = await startStack({ buckets: [B] });
  await s.client().send(new CreateBucketCommand({ Bucket: B }));
});
after(async () => {
  await s?.stop();
});

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const SIGV4 =
  'AWS4-HMAC-SHA256 Credential=AKIDCLIENT/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=' +
  '0'.repeat(64);

async function put(
  key: string,
  body: Buffer,
  headers: Record<string, string>,
): Promise<{ status: number; text: string }> {
  const r = await request(`${s.proxy.url}/${B}/${key}`, { method: 'PUT', body, headers });
  return { status: r.statusCode, text: await r.body.text() };
}

async function stored(key: string): Promise<Buffer | undefined> {
  try {
    const g = await s.direct().send(new GetObjectCommand({ Bucket: B, Key: key }));
    return Buffer.from(await g.Body!.transformToByteArray());
  } catch {
    return undefined;
  }
}

void describe('payload modes', () => {
  const data = randomBytes(200 * 1024 + 3);

  void test('hex x-amz-content-sha256 is reused (and the backend verifies it)', async () => {
    const ok = await put('m/sha', data, { authorization: SIGV4, 'x-amz-content-sha256': sha(data) });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(sha((await stored('m/sha'))!), sha(data));
    const bad = await put('m/sha-bad', data, {
      authorization: SIGV4,
      'x-amz-content-sha256': sha(Buffer.from('x')),
    });
    assert.equal(bad.status, 400, bad.text);
    assert.equal(s3Code(bad.text), 'XAmzContentSHA256Mismatch');
    assert.equal(await stored('m/sha-bad'), undefined);
  });

  void test('UNSIGNED-PAYLOAD', async () => {
    const r = await put('m/unsigned', data, {
      authorization: SIGV4,
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(sha((await stored('m/unsigned'))!), sha(data));
  });

  void test('STREAMING-AWS4-HMAC-SHA256-PAYLOAD (signed chunks, client keys) is decoded', async () => {
    const { body } = awsChunked(data, { chunkSize: 64 * 1024, signed: true });
    const r = await put('m/signed-chunks', body, {
      authorization: SIGV4,
      'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': String(data.length),
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(sha((await stored('m/signed-chunks'))!), sha(data));
  });

  for (const signed of [false, true]) {
    const mode = signed ? 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER' : 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
    void test(`${mode}: the crc32 trailer reaches the backend, which verifies it`, async () => {
      const { body, checksum } = awsChunked(data, { chunkSize: 50_000, signed, trailer: true });
      const headers = {
        authorization: SIGV4,
        'x-amz-content-sha256': mode,
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': String(data.length),
        'x-amz-trailer': 'x-amz-checksum-crc32',
      };
      const r = await put(`m/trailer-${signed}`, body, headers);
      assert.equal(r.status, 200, r.text);
      assert.equal(sha((await stored(`m/trailer-${signed}`))!), sha(data));
      const h = await s
        .direct()
        .send(new HeadObjectCommand({ Bucket: B, Key: `m/trailer-${signed}`, ChecksumMode: 'ENABLED' }));
      assert.equal(h.ChecksumCRC32, checksum);
      // A wrong checksum in the trailer: the backend refuses, nothing is stored.
      const wrong = Buffer.from(body.toString('latin1').replace(checksum, 'AAAAAA=='), 'latin1');
      const bad = await put(`m/trailer-bad-${signed}`, wrong, headers);
      assert.equal(bad.status, 400, bad.text);
      assert.equal(await stored(`m/trailer-bad-${signed}`), undefined);
    });
  }
});

void describe('header values beyond ASCII', () => {
  void test('are signed as the bytes sent: UTF-8 metadata (as minio-go sends it) is stored', async () => {
    // undici writes header strings as latin1: one byte per character, here the UTF-8 of "café €".
    const value = Buffer.from('café €', 'utf8').toString('latin1');
    const r = await put('m/meta-utf8', Buffer.from('x'), { authorization: SIGV4, 'x-amz-meta-note': value });
    assert.equal(r.status, 200, r.text);
    const h = await request(`${s.proxy.url}/${B}/m/meta-utf8`, { method: 'HEAD' });
    await h.body.text();
    assert.equal(h.statusCode, 200);
    // MinIO answers non-ASCII metadata RFC 2047-encoded (as S3 does): the UTF-8 bytes arrived.
    const m = /^=\?UTF-8\?q\?(.*)\?=$/i.exec(String(h.headers['x-amz-meta-note']));
    assert.ok(m, String(h.headers['x-amz-meta-note']));
    const bytes = Buffer.from(
      m[1]!
        .replace(/_/g, ' ')
        .replace(/=([0-9A-F]{2})/gi, (_, x: string) => String.fromCharCode(parseInt(x, 16))),
      'latin1',
    );
    assert.equal(bytes.toString('utf8'), 'café €');
  });
});

void describe('client auth styles are all replaced', () => {
  void test('SigV2 header, anonymous, presigned V2 query', async () => {
    const body = Buffer.from('auth');
    assert.equal((await put('a/v2', body, { authorization: 'AWS AKIDCLIENT:c2lnbmF0dXJl' })).status, 200);
    assert.equal((await put('a/anon', body, {})).status, 200);
    const r = await request(`${s.proxy.url}/${B}/a/v2?AWSAccessKeyId=AKIDCLIENT&Expires=1&Signature=abc%3D`);
    assert.equal(r.statusCode, 200);
    assert.equal(await r.body.text(), 'auth');
  });
  void test('a presigned V4 query with a security token and expired date still works', async () => {
    const q =
      'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDCLIENT%2F20000101%2Fus-east-1%2Fs3%2Faws4_request' +
      '&X-Amz-Date=20000101T000000Z&X-Amz-Expires=1&X-Amz-SignedHeaders=host&X-Amz-Security-Token=tok' +
      `&X-Amz-Signature=${'1'.repeat(64)}`;
    const r = await request(`${s.proxy.url}/${B}/a/anon?${q}`);
    assert.equal(r.statusCode, 200);
    assert.equal(await r.body.text(), 'auth');
  });
});
