/**
 * The policy through the real proxy against the real MinIO cluster. Every denial is checked on
 * both sides: the client gets the S3 error, and MinIO (read with the real keys, bypassing the
 * proxy) shows that nothing happened — the object is absent or unchanged, the configuration
 * untouched. The access log confirms no backend was picked for a denied request.
 *
 * Policy under test: bucket pol-data, prefix `team/` (read, write, list, delete); nothing on
 * pol-secret, which exists on MinIO next to it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutBucketPolicyCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { awsChunked } from '../proxy/raw.ts';
import { startStack } from '../proxy/stack.ts';
import type { Stack } from '../proxy/stack.ts';

const DATA = 'pol-data';
const SECRET = 'pol-secret';
let stack: Stack;
let s3: S3Client;
let direct: S3Client;

before(async () => {
  stack = await startStack({
    buckets: [DATA],
    grants: [
      {
        store: 'minio',
        bucket: DATA,
        prefixes: ['team/'],
        access: ['read', 'write', 'list', 'delete'],
        source: 'it/team',
      },
    ],
  });
  s3 = stack.client();
  direct = stack.direct();
  for (const b of [DATA, SECRET]) await direct.send(new CreateBucketCommand({ Bucket: b }));
  await direct.send(new PutObjectCommand({ Bucket: DATA, Key: 'team/a.txt', Body: 'team-a' }));
  await direct.send(new PutObjectCommand({ Bucket: DATA, Key: 'other/keep.txt', Body: 'keep' }));
  await direct.send(new PutObjectCommand({ Bucket: SECRET, Key: 's.txt', Body: 'secret' }));
});
after(async () => {
  await stack?.stop();
});

async function exists(bucket: string, key: string): Promise<boolean> {
  try {
    await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (err) {
    if ((err as { name?: string }).name === 'NotFound') return false;
    throw err;
  }
}

async function body(bucket: string, key: string): Promise<string> {
  const r = await direct.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return r.Body!.transformToString();
}

async function rejects(p: Promise<unknown>, code = 'AccessDenied'): Promise<void> {
  await assert.rejects(p, (err: { name?: string; Code?: string }) => {
    assert.equal(err.name, code);
    return true;
  });
}

interface Raw {
  status: number;
  text: string;
  continued: boolean;
}

/** A raw HTTP request to the proxy (no SDK normalisation of the target). */
function raw(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  data?: string | Buffer,
): Promise<Raw> {
  const u = new URL(stack.proxy.url);
  return new Promise((resolve, reject) => {
    let continued = false;
    const req = request(
      { host: u.hostname, port: u.port, method, path, headers, setHost: !headers.host },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, continued }));
      },
    );
    req.on('error', reject);
    req.on('continue', () => {
      continued = true;
      req.end(data);
    });
    if (headers.expect === '100-continue') req.flushHeaders();
    else req.end(data);
  });
}

/** Access-log lines for requests whose key or bucket matches. */
function accessLines(pred: (a: Record<string, unknown>) => boolean): Record<string, unknown>[] {
  return stack.logs
    .map((l) => l.access as Record<string, unknown> | undefined)
    .filter((a): a is Record<string, unknown> => !!a && pred(a));
}

/** A ustar archive of one file (what MinIO's snowball auto-extract unpacks). */
function tarOf(name: string, content: string): Buffer {
  const data = Buffer.from(content);
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'latin1');
  header.write('0000644\0', 100, 'latin1');
  header.write('0000000\0', 108, 'latin1');
  header.write('0000000\0', 116, 'latin1');
  header.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  header.write('00000000000\0', 136, 'latin1');
  header.write('        ', 148, 'latin1'); // checksum field counts as spaces while summing
  header.write('0', 156, 'latin1');
  header.write('ustar\u000000', 257, 'latin1');
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  const padded = Buffer.alloc(Math.ceil(data.length / 512) * 512);
  data.copy(padded);
  return Buffer.concat([header, padded, Buffer.alloc(1024)]);
}

void describe('policy enforcement through the proxy', () => {
  void test('allowed inside the grant (and the access log names the grant)', async () => {
    await s3.send(new PutObjectCommand({ Bucket: DATA, Key: 'team/new.txt', Body: 'x' }));
    assert.equal(await body(DATA, 'team/new.txt'), 'x');
    const line = accessLines((a) => a.key === 'team/new.txt' && a.operation === 'PutObject').at(-1);
    assert.equal(line?.policy, 'grant:it/team');
  });

  void test('PutObject outside the prefix never reaches MinIO', async () => {
    await rejects(s3.send(new PutObjectCommand({ Bucket: DATA, Key: 'other/new.txt', Body: 'nope' })));
    assert.equal(await exists(DATA, 'other/new.txt'), false);
    const line = accessLines((a) => a.key === 'other/new.txt').at(-1);
    assert.equal(line?.policy, 'deny:no-grant');
    assert.equal(line?.backend, undefined, 'no backend was picked');
  });

  void test("MinIO's tar auto-extract, which writes the keys the tar names, is refused", async () => {
    const tar = tarOf('other/extracted.txt', 'pwned');
    const meta = { 'snowball-auto-extract': 'true' };
    // Direct, with the real keys, MinIO unpacks it outside team/: the header is live on this store.
    await direct.send(
      new PutObjectCommand({ Bucket: DATA, Key: 'team/direct.tar', Body: tar, Metadata: meta }),
    );
    assert.equal(await body(DATA, 'other/extracted.txt'), 'pwned');
    await direct.send(
      new DeleteObjectsCommand({ Bucket: DATA, Delete: { Objects: [{ Key: 'other/extracted.txt' }] } }),
    );
    // Through the proxy, with a grant on team/ only: refused, nothing written.
    await rejects(
      s3.send(new PutObjectCommand({ Bucket: DATA, Key: 'team/x.tar', Body: tar, Metadata: meta })),
    );
    assert.equal(await exists(DATA, 'other/extracted.txt'), false);
    assert.equal(await exists(DATA, 'team/x.tar'), false);
    assert.equal(accessLines((a) => a.key === 'team/x.tar').at(-1)?.policy, 'deny:store-extension');
  });

  void test('an x-amz-* header S3 does not define is refused with NotImplemented', async () => {
    const r = await raw(
      'PUT',
      `/${DATA}/team/replica.txt`,
      { 'x-amz-replication-status': 'REPLICA', 'content-length': '1' },
      'x',
    );
    assert.equal(r.status, 501);
    assert.match(r.text, /<Code>NotImplemented<\/Code>/);
    assert.equal(await exists(DATA, 'team/replica.txt'), false);
  });

  void test('a denied upload with Expect: 100-continue gets no 100 and no body is sent', async () => {
    const r = await raw(
      'PUT',
      `/${DATA}/other/continue.txt`,
      { expect: '100-continue', 'content-length': '4' },
      'nope',
    );
    assert.equal(r.status, 403);
    assert.equal(r.continued, false);
    assert.equal(await exists(DATA, 'other/continue.txt'), false);
  });

  void test('CopyObject from an ungranted source', async () => {
    await rejects(
      s3.send(new CopyObjectCommand({ Bucket: DATA, Key: 'team/copied.txt', CopySource: `${SECRET}/s.txt` })),
    );
    await rejects(
      s3.send(
        new CopyObjectCommand({ Bucket: DATA, Key: 'team/copied.txt', CopySource: `${DATA}/other/keep.txt` }),
      ),
    );
    assert.equal(await exists(DATA, 'team/copied.txt'), false);
    await s3.send(
      new CopyObjectCommand({ Bucket: DATA, Key: 'team/copied.txt', CopySource: `${DATA}/team/a.txt` }),
    );
    assert.equal(await body(DATA, 'team/copied.txt'), 'team-a');
  });

  void test('DeleteObjects with one foreign key deletes nothing', async () => {
    await direct.send(new PutObjectCommand({ Bucket: DATA, Key: 'team/d1.txt', Body: '1' }));
    await rejects(
      s3.send(
        new DeleteObjectsCommand({
          Bucket: DATA,
          Delete: { Objects: [{ Key: 'team/d1.txt' }, { Key: 'other/keep.txt' }] },
        }),
      ),
    );
    assert.equal(await exists(DATA, 'team/d1.txt'), true);
    assert.equal(await body(DATA, 'other/keep.txt'), 'keep');
    // Inside the grant it works, body forwarded unchanged (MinIO checks its checksum).
    const r = await s3.send(
      new DeleteObjectsCommand({ Bucket: DATA, Delete: { Objects: [{ Key: 'team/d1.txt' }] } }),
    );
    assert.equal(r.Deleted?.[0]?.Key, 'team/d1.txt');
    assert.equal(await exists(DATA, 'team/d1.txt'), false);
  });

  void test('DeleteObjects in aws-chunked framing with a checksum trailer is checked too', async () => {
    await direct.send(new PutObjectCommand({ Bucket: DATA, Key: 'team/d2.txt', Body: '2' }));
    // What an SDK streaming its body over plain http sends: STREAMING-UNSIGNED-PAYLOAD-TRAILER,
    // small chunks (the keys straddle them), a CRC32 trailer. MinIO reads a DeleteObjects body
    // as plain XML and wants a checksum with it: the proxy forwards the decoded body with the
    // trailer's checksum as a header.
    const send = (keys: string[]): Promise<Raw> => {
      const xml = `<Delete>${keys.map((k) => `<Object><Key>${k}</Key></Object>`).join('')}</Delete>`;
      const { body: framed } = awsChunked(Buffer.from(xml), { chunkSize: 20, signed: false, trailer: true });
      return raw(
        'POST',
        `/${DATA}?delete`,
        {
          'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
          'content-encoding': 'aws-chunked',
          'x-amz-decoded-content-length': String(Buffer.byteLength(xml)),
          'x-amz-trailer': 'x-amz-checksum-crc32',
          'content-length': String(framed.length),
        },
        framed,
      );
    };
    const denied = await send(['team/d2.txt', 'other/keep.txt']);
    assert.equal(denied.status, 403, denied.text);
    assert.match(denied.text, /<Code>AccessDenied<\/Code>/);
    assert.equal(await exists(DATA, 'team/d2.txt'), true);
    assert.equal(await body(DATA, 'other/keep.txt'), 'keep');
    const ok = await send(['team/d2.txt']);
    assert.equal(ok.status, 200, ok.text);
    assert.match(ok.text, /<Deleted><Key>team\/d2\.txt<\/Key>/);
    assert.equal(await exists(DATA, 'team/d2.txt'), false);
  });

  void test('list outside the prefix, or without one', async () => {
    await rejects(s3.send(new ListObjectsV2Command({ Bucket: DATA, Prefix: 'other/' })));
    await rejects(s3.send(new ListObjectsV2Command({ Bucket: DATA })));
    await rejects(s3.send(new ListObjectsV2Command({ Bucket: SECRET, Prefix: 'team/' })));
    const ok = await s3.send(new ListObjectsV2Command({ Bucket: DATA, Prefix: 'team/' }));
    assert.ok(ok.Contents?.some((o) => o.Key === 'team/a.txt'));
    assert.ok(!ok.Contents?.some((o) => o.Key?.startsWith('other/')));
  });

  void test('bucket-configuration writes need an explicit grant', async () => {
    await rejects(
      s3.send(
        new PutBucketVersioningCommand({ Bucket: DATA, VersioningConfiguration: { Status: 'Enabled' } }),
      ),
    );
    await rejects(
      s3.send(
        new PutBucketPolicyCommand({
          Bucket: DATA,
          Policy: JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Principal: '*',
                Action: ['s3:GetObject'],
                Resource: [`arn:aws:s3:::${DATA}/*`],
              },
            ],
          }),
        }),
      ),
    );
    await rejects(s3.send(new CreateBucketCommand({ Bucket: 'pol-new' })));
    const v = await direct.send(new GetBucketVersioningCommand({ Bucket: DATA }));
    assert.notEqual(v.Status, 'Enabled');
  });

  void test('ListBuckets is filtered to granted buckets', async () => {
    const r = await s3.send(new ListBucketsCommand({}));
    const names = (r.Buckets ?? []).map((b) => b.Name);
    assert.deepEqual(names, [DATA]);
    const all = await direct.send(new ListBucketsCommand({}));
    assert.ok(
      all.Buckets?.some((b) => b.Name === SECRET),
      'the secret bucket does exist',
    );
  });

  void test('path tricks reach nothing else', async () => {
    const tricks: [string, string, Record<string, string>?][] = [
      ['GET', `/${DATA}/team/%2e%2e/other/keep.txt`],
      ['GET', `/${DATA}/team/..%2Fother/keep.txt`],
      ['GET', `/${DATA}/team/%2E%2e/other/keep.txt`],
      ['GET', `//${SECRET}/s.txt`],
      ['GET', `/${DATA}%2F..%2F${SECRET}/s.txt`],
      ['GET', `/${DATA}/team//../../${SECRET}/s.txt`],
      ['GET', `http://127.0.0.1/${SECRET}/s.txt`],
      ['GET', `/${DATA}/team/a.txt`, { host: `${SECRET}.s3.localhost` }],
      ['PUT', `/${DATA}/team/%2e%2e/other/trick.txt`],
      ['PUT', `/${DATA}/team/..%5Cother/x`, { host: `${DATA}.s3.localhost` }],
    ];
    for (const [method, path, headers] of tricks) {
      const r = await raw(method, path, { 'content-length': '0', ...headers });
      assert.ok(r.status === 400 || r.status === 403, `${method} ${path} → ${r.status}`);
      assert.ok(r.text !== 'secret' && r.text !== 'keep' && r.text !== 'team-a', `${path} leaked an object`);
    }
    assert.equal(await exists(DATA, 'other/trick.txt'), false);
    assert.equal(await body(DATA, 'other/keep.txt'), 'keep');
  });

  void test('presigned and anonymous requests get the same checks', async () => {
    const putOut = await getSignedUrl(
      s3,
      new PutObjectCommand({ Bucket: DATA, Key: 'other/presigned.txt' }),
      { expiresIn: 300 },
    );
    const u = new URL(putOut);
    const r1 = await raw('PUT', u.pathname + u.search, { 'content-length': '3' }, 'bad');
    assert.equal(r1.status, 403);
    assert.equal(await exists(DATA, 'other/presigned.txt'), false);

    const getIn = await getSignedUrl(s3, new GetObjectCommand({ Bucket: DATA, Key: 'team/a.txt' }), {
      expiresIn: 300,
    });
    const g = new URL(getIn);
    const r2 = await raw('GET', g.pathname + g.search);
    assert.equal(r2.status, 200);
    assert.equal(r2.text, 'team-a');

    const anonPut = await raw('PUT', `/${DATA}/other/anon.txt`, { 'content-length': '4' }, 'anon');
    assert.equal(anonPut.status, 403);
    assert.equal(await exists(DATA, 'other/anon.txt'), false);
    const anonGetSecret = await raw('GET', `/${SECRET}/s.txt`);
    assert.equal(anonGetSecret.status, 403);
    const anonGet = await raw('GET', `/${DATA}/team/a.txt`);
    assert.equal(anonGet.status, 200);
  });

  void test('denials are counted by reason on /metrics', async () => {
    const text = await (await fetch(`${stack.proxy.adminUrl}/metrics`)).text();
    const count = (reason: string) =>
      Number(
        new RegExp(`sluice_policy_denials_total\\{reason="${reason}"\\} (\\d+)`).exec(text)?.[1] ?? 'NaN',
      );
    const lines = text
      .split('\n')
      .filter((l) => l.startsWith('sluice_policy_denials_total{'))
      .join('\n');
    assert.ok(count('no-grant') >= 5, lines);
    assert.ok(count('list-prefix') >= 2, lines);
    assert.match(text, /sluice_policy_last_reload_success_timestamp_seconds \d/);
  });
});
