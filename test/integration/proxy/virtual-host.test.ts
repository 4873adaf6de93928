/**
 * Virtual-hosted-style addressing through the real proxy against the real MinIO cluster: with
 * `virtualHostDomains: ['s3.localhost']` (test/integration/proxy/stack.ts), a request whose Host
 * is `<bucket>.s3.localhost:<port>` names the bucket and its whole path is the key. Checked with
 * the AWS SDK in virtual-hosted mode (its DNS lookups answered with the proxy's address, so no
 * resolver is involved) and with hand-set Host headers; where objects land is read back from
 * MinIO path-style, with the root keys.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import type { LookupFunction } from 'node:net';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { s3Code } from './raw.ts';
import { startStack } from './stack.ts';
import type { Stack } from './stack.ts';

const VH = 'vhost-bucket';
const OTHER = 'vhost-other';
/** Dots are valid in bucket names and in Hosts: the bucket is everything before the domain. */
const DOTTED = 'vhost.dotted';
/** Exists on MinIO but is not granted to the proxy's pod. */
const UNGRANTED = 'vhost-ungranted';

let s: Stack;
let direct: S3Client;
let port: number;
/** Every hostname the SDK client looked up. */
const looked: string[] = [];
let agent: Agent;

before(async () => {
  s = await startStack({ buckets: [VH, OTHER, DOTTED] });
  port = Number(new URL(s.proxy.url).port);
  direct = s.direct();
  for (const Bucket of [VH, OTHER, DOTTED, UNGRANTED]) await direct.send(new CreateBucketCommand({ Bucket }));
});
after(async () => {
  agent?.destroy();
  await s?.stop();
});

/** An SDK client in virtual-hosted mode whose every lookup resolves to the proxy (127.0.0.1). */
function vhostClient(): S3Client {
  const lookup = ((hostname: string, options: { all?: boolean }, cb: (...args: unknown[]) => void) => {
    looked.push(hostname);
    if (options.all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
    else cb(null, '127.0.0.1', 4);
  }) as unknown as LookupFunction;
  agent = new Agent({ keepAlive: true, lookup });
  return s.client({
    endpoint: `http://s3.localhost:${port}`,
    forcePathStyle: false,
    requestHandler: new NodeHttpHandler({ httpAgent: agent }),
  });
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request to the proxy's listen address with Host set by hand. */
function send(method: string, path: string, host: string, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent: false,
        headers: { host, ...(body === undefined ? {} : { 'content-length': Buffer.byteLength(body) }) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (b: Buffer) => chunks.push(b));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The object's content on MinIO (path-style, root keys), or undefined when absent. */
async function stored(bucket: string, key: string): Promise<string | undefined> {
  try {
    const r = await direct.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return await r.Body?.transformToString();
  } catch (err) {
    if ((err as Error).name === 'NoSuchKey') return undefined;
    throw err;
  }
}

void describe('the AWS SDK in virtual-hosted mode', () => {
  void test('PUT, HEAD, GET, ListObjectsV2 and DELETE reach the bucket named in the Host', async () => {
    const c = vhostClient();
    await c.send(new PutObjectCommand({ Bucket: VH, Key: 'sdk/a.txt', Body: 'alpha' }));
    await c.send(new PutObjectCommand({ Bucket: VH, Key: 'sdk/dir/b.txt', Body: 'beta' }));
    assert.ok(looked.length > 0, 'the SDK resolved a hostname');
    assert.deepEqual([...new Set(looked)], [`${VH}.s3.localhost`], 'the SDK addressed the bucket by Host');

    assert.equal(await stored(VH, 'sdk/a.txt'), 'alpha');
    assert.equal(await stored(VH, 'sdk/dir/b.txt'), 'beta');

    const h = await c.send(new HeadObjectCommand({ Bucket: VH, Key: 'sdk/a.txt' }));
    assert.equal(h.ContentLength, 5);
    const g = await c.send(new GetObjectCommand({ Bucket: VH, Key: 'sdk/dir/b.txt' }));
    assert.equal(await g.Body?.transformToString(), 'beta');
    const l = await c.send(new ListObjectsV2Command({ Bucket: VH, Prefix: 'sdk/' }));
    assert.equal(l.Name, VH);
    assert.deepEqual(
      l.Contents?.map((o) => o.Key),
      ['sdk/a.txt', 'sdk/dir/b.txt'],
    );
    const d = await c.send(new ListObjectsV2Command({ Bucket: VH, Prefix: 'sdk/', Delimiter: '/' }));
    assert.deepEqual(
      d.CommonPrefixes?.map((p) => p.Prefix),
      ['sdk/dir/'],
    );

    await c.send(new DeleteObjectCommand({ Bucket: VH, Key: 'sdk/a.txt' }));
    assert.equal(await stored(VH, 'sdk/a.txt'), undefined);

    // The proxy's access log names the Host's bucket for each of them.
    const access = s.logs
      .map(
        (l) => l.access as { operation?: string; bucket?: string; key?: string; status?: number } | undefined,
      )
      .filter((a) => a !== undefined);
    const keyed = access.filter((a) => a.key?.startsWith('sdk/'));
    assert.equal(keyed.length, 5, 'PUT ×2, HEAD, GET, DELETE');
    assert.ok(keyed.every((a) => a.bucket === VH && a.status !== undefined && a.status < 300));
    const lists = access.filter((a) => a.operation === 'ListObjectsV2');
    assert.equal(lists.length, 2);
    assert.ok(lists.every((a) => a.bucket === VH && a.key === undefined && a.status === 200));
  });
});

void describe('hand-set Host headers', () => {
  const hostOf = (bucket: string): string => `${bucket}.s3.localhost:${port}`;

  void test('PUT / GET / ListObjectsV2 with Host <bucket>.s3.localhost:<port>', async () => {
    const put = await send('PUT', '/raw/one.txt', hostOf(VH), 'one');
    assert.equal(put.status, 200, put.body);
    assert.equal(await stored(VH, 'raw/one.txt'), 'one');

    const get = await send('GET', '/raw/one.txt', hostOf(VH));
    assert.equal(get.status, 200);
    assert.equal(get.body, 'one');

    const list = await send('GET', '/?list-type=2&prefix=raw%2F', hostOf(VH));
    assert.equal(list.status, 200, list.body);
    assert.match(list.body, new RegExp(`<Name>${VH}</Name>`));
    assert.deepEqual(
      [...list.body.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]),
      ['raw/one.txt'],
    );
  });

  void test('Host is matched case-insensitively, with or without a port', async () => {
    const put = await send('PUT', '/raw/upper.txt', `${VH.toUpperCase()}.S3.LOCALHOST`, 'upper');
    assert.equal(put.status, 200, put.body);
    assert.equal(await stored(VH, 'raw/upper.txt'), 'upper');
  });

  void test('a bucket name with dots', async () => {
    const put = await send('PUT', '/d/k.txt', hostOf(DOTTED), 'dotted');
    assert.equal(put.status, 200, put.body);
    assert.equal(await stored(DOTTED, 'd/k.txt'), 'dotted');
    const list = await send('GET', '/?list-type=2', hostOf(DOTTED));
    assert.equal(list.status, 200, list.body);
    assert.match(list.body, /<Name>vhost\.dotted<\/Name>/);
    assert.match(list.body, /<Key>d\/k\.txt<\/Key>/);
  });

  void test('the path never overrides the Host: a bucket-like first segment is part of the key', async () => {
    const put = await send('PUT', `/${OTHER}/k.txt`, hostOf(VH), 'in vh');
    assert.equal(put.status, 200, put.body);
    assert.equal(await stored(VH, `${OTHER}/k.txt`), 'in vh');
    assert.equal(await stored(OTHER, 'k.txt'), undefined);
  });

  void test('the bare domain is path-style', async () => {
    await direct.send(new PutObjectCommand({ Bucket: OTHER, Key: 'bare.txt', Body: 'bare' }));
    const get = await send('GET', `/${OTHER}/bare.txt`, `s3.localhost:${port}`);
    assert.equal(get.status, 200, get.body);
    assert.equal(get.body, 'bare');
  });

  void test('a Host naming an ungranted bucket is denied, whatever the path says', async () => {
    const r = await send('PUT', `/${VH}/smuggled.txt`, hostOf(UNGRANTED), 'x');
    assert.equal(r.status, 403, r.body);
    assert.equal(s3Code(r.body), 'AccessDenied');
    assert.equal(await stored(UNGRANTED, `${VH}/smuggled.txt`), undefined);
    assert.equal(await stored(VH, 'smuggled.txt'), undefined);
  });

  for (const bad of ['Bad_Bucket', 'ab', 'x..y', '192.168.1.1', '-dash', 'a'.repeat(64)]) {
    void test(`Host ${bad}.s3.localhost (not a valid bucket) → 400 InvalidBucketName XML`, async () => {
      const r = await send('PUT', '/k.txt', `${bad}.s3.localhost:${port}`, 'x');
      assert.equal(r.status, 400, r.body);
      assert.match(String(r.headers['content-type']), /^application\/xml/);
      assert.equal(s3Code(r.body), 'InvalidBucketName');
      assert.match(r.body, /^<\?xml[^>]*\?>\s*<Error>/);
      assert.match(String(r.headers['x-amz-request-id']), /^[0-9A-F]{16}$/);
      assert.equal(await stored(VH, 'k.txt'), undefined);
      // And the proxy still serves the next request.
      const ok = await send('GET', '/raw/one.txt', hostOf(VH));
      assert.equal(ok.status, 200);
    });
  }

  void test('Host .s3.localhost (an empty bucket label) → 400 S3 XML error naming the bucket', async () => {
    // The policy's parser (proxy/policy/target.ts) reads this Host as a virtual host with an empty
    // bucket and refuses it (InvalidRequest naming the invalid bucket name); the request parser
    // alone would have read it path-style. Either code is a clear refusal; nothing is written.
    const r = await send('PUT', '/k.txt', `.s3.localhost:${port}`, 'x');
    assert.equal(r.status, 400, r.body);
    assert.match(String(r.headers['content-type']), /^application\/xml/);
    assert.ok(s3Code(r.body) === 'InvalidBucketName' || s3Code(r.body) === 'InvalidRequest', r.body);
    assert.match(r.body, /invalid bucket name|bucket is not valid/i);
    assert.equal(await stored(VH, 'k.txt'), undefined);
  });
});
