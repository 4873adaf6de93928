/**
 * The request path's own SigV4 signer (proxy/sigv4/signer.ts) against @smithy/signature-v4, the
 * AWS SDK's, as reference: a broad table of requests signed by both must give byte-identical
 * Authorization headers. Also the hot path proper (buildUpstream's canonical parts → signAttempt)
 * against @smithy signing the very headers that go on the wire, and the signing-key cache across
 * a date change and a credentials rotation.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import type { Backend } from '../../../proxy/balancer/types.ts';
import { buildUpstream, withPlainBody } from '../../../proxy/pipeline/upstream.ts';
import { signAttempt } from '../../../proxy/pipeline/sign.ts';
import { parseTarget } from '../../../proxy/s3/target.ts';
import {
  canonicalHeaderValue,
  canonicalHeaderValueGo,
  sortSignedHeaders,
} from '../../../proxy/sigv4/canonical-request.ts';
import { payloadMode } from '../../../proxy/sigv4/payload.ts';
import { StoreSigner } from '../../../proxy/sigv4/signer.ts';
import type { SignInput, StoreCredentials } from '../../../proxy/sigv4/signer.ts';
import { SmithySigner } from '../../../proxy/sigv4/smithy-reference.ts';

const HEX = 'a'.repeat(64);
const creds: StoreCredentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const withToken: StoreCredentials = { ...creds, sessionToken: 'FQoGZXIvYXdzE//token+with/slashes==' };
const now = new Date('2026-01-02T03:04:05.678Z');

const base = (over: Partial<SignInput> & { extra?: Record<string, string> } = {}): SignInput => ({
  method: over.method ?? 'GET',
  path: over.path ?? '/bucket/key',
  query: over.query ?? {},
  headers: over.headers ?? {
    host: '127.0.0.1:9000',
    'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    ...over.extra,
  },
});

const table: [string, SignInput][] = [
  ['GET object', base()],
  ['HEAD', base({ method: 'HEAD' })],
  ['DELETE', base({ method: 'DELETE' })],
  ['POST uploads', base({ method: 'POST', query: { uploads: '' } })],
  ['PUT with hex payload hash', base({ method: 'PUT', extra: { 'x-amz-content-sha256': HEX } })],
  [
    'PUT with the empty body hash',
    base({
      method: 'PUT',
      extra: { 'x-amz-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' },
    }),
  ],
  ['no x-amz-content-sha256 at all', base({ headers: { host: 'h' } })],
  [
    'streaming trailer payload',
    base({
      method: 'PUT',
      extra: {
        'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
        'x-amz-decoded-content-length': '1024',
        'x-amz-trailer': 'x-amz-checksum-crc32',
      },
    }),
  ],
  ['encoded key path', base({ path: '/bucket/a%20b/%E2%82%AC/c%2Bd~e_f.g-h' })],
  ['service level', base({ path: '/' })],
  ['bucket level', base({ path: '/bucket' })],
  [
    'list with prefix',
    base({ path: '/bucket', query: { 'list-type': '2', prefix: 'a/b c', delimiter: '/' } }),
  ],
  [
    'query with special characters',
    base({
      path: '/bucket',
      query: { prefix: "a+b=c&d!'()*~é€/ ", marker: '%41', 'max-keys': '10', 'encoding-type': 'url' },
    }),
  ],
  ['query names that need encoding', base({ query: { 'a b': '1', 'x*': '', 'Z+': 'v' } })],
  ['repeated query names', base({ query: { tag: ['b', 'a', 'c c'], key: 'x' } })],
  ['upload part', base({ method: 'PUT', query: { partNumber: '3', uploadId: 'abc/def+==' } })],
  [
    'header folding and whitespace',
    base({
      extra: {
        'x-amz-meta-spaces': '  a   b\tc  ',
        'x-amz-meta-tabs': '\tx\t\ty\t',
        'x-amz-meta-newline': 'line1\r\n line2',
        'x-amz-meta-empty': '',
      },
    }),
  ],
  [
    'same-name headers joined',
    base({ extra: { 'x-amz-meta-m': 'one,two, three', 'content-md5': 'XrY7u+Ae7tCTyyK7j1rNww==' } }),
  ],
  [
    'copy source and metadata directive',
    base({
      method: 'PUT',
      extra: {
        'x-amz-copy-source': '/src/a%20b?versionId=1',
        'x-amz-metadata-directive': 'REPLACE',
        'x-amz-tagging': 'a=b&c=d',
        'x-amz-checksum-crc32': 'AAAAAA==',
        'x-amz-storage-class': 'STANDARD',
      },
    }),
  ],
  [
    'headers sorting after x-amz-security-token',
    base({
      extra: {
        'x-amz-server-side-encryption': 'AES256',
        'x-amz-website-redirect-location': '/x',
        'x-amz-acl': 'private',
      },
    }),
  ],
  [
    // Larger than the signer's first scratch buffer (8 KiB) with UTF-8 wider than latin1.
    'canonical request of 60 KB, non-ASCII values',
    base({
      path: `/bucket/${'%E2%82%AC'.repeat(500)}`,
      extra: {
        'x-amz-meta-big': 'é€'.repeat(6000),
        'x-amz-meta-z': 'after the big one',
        'x-amz-tagging': 'a=b',
      },
    }),
  ],
  ['a short one after the long one', base({ extra: { 'x-amz-meta-a': 'ü' } })],
  [
    'virtual host',
    base({ path: '/key', headers: { host: 'bucket.s3.example.com', 'x-amz-content-sha256': HEX } }),
  ],
];

/**
 * `input` as the proxy holds it: header values as Node's parser gives them, one latin1 character
 * per byte the client sent (here, the UTF-8 bytes of the table's values). Signed, they must give
 * @smithy's signature over the UTF-8 values: the same bytes, which are what goes on the wire.
 */
function asReceived(input: SignInput): SignInput {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.headers)) headers[k] = Buffer.from(v, 'utf8').toString('latin1');
  return { ...input, headers };
}

void describe('StoreSigner vs @smithy/signature-v4', () => {
  for (const c of [creds, withToken]) {
    for (const [name, input] of table) {
      void test(`${name}${c.sessionToken ? ' (session token)' : ''}`, async () => {
        const ours = new StoreSigner('us-east-1', c).sign(asReceived(input), now);
        const ref = await new SmithySigner('us-east-1', c).sign(input, now);
        assert.deepEqual(ours, ref);
      });
    }
  }
  void test('another region, same bytes', async () => {
    const input = base({ query: { versions: '' } });
    assert.deepEqual(
      new StoreSigner('eu-central-1', creds).sign(input, now),
      await new SmithySigner('eu-central-1', creds).sign(input, now),
    );
  });
  void test('a region that is not ASCII is signed as UTF-8, as @smithy does', async () => {
    const input = base({});
    assert.deepEqual(
      new StoreSigner('zürich-1', creds).sign(input, now),
      await new SmithySigner('zürich-1', creds).sign(input, now),
    );
  });
});

void describe('StoreSigner signing key', () => {
  void test('is derived again when the UTC date changes', async () => {
    const signer = new StoreSigner('us-east-1', creds);
    const ref = new SmithySigner('us-east-1', creds);
    for (const at of ['2026-01-02T23:59:59Z', '2026-01-03T00:00:00Z', '2026-01-02T12:00:00Z']) {
      const d = new Date(at);
      assert.deepEqual(signer.sign(base(), d), await ref.sign(base(), d), at);
    }
  });
  void test('rotated credentials (a new signer) sign differently and correctly', async () => {
    const rotated = { ...creds, secretAccessKey: 'another-secret' };
    const a = new StoreSigner('us-east-1', creds).sign(base(), now);
    const b = new StoreSigner('us-east-1', rotated).sign(base(), now);
    assert.notEqual(a.authorization, b.authorization);
    assert.deepEqual(b, await new SmithySigner('us-east-1', rotated).sign(base(), now));
  });
});

void describe('canonical parts', () => {
  void test('canonicalHeaderValue folds like SigV4', () => {
    assert.equal(canonicalHeaderValue('plain value'), 'plain value');
    assert.equal(canonicalHeaderValue('  a   b\tc  '), 'a b c');
    assert.equal(canonicalHeaderValue('x\r\ny'), 'x y');
  });
  void test("canonicalHeaderValueGo folds every Unicode space of the UTF-8 bytes, as MinIO's strings.Fields", () => {
    const latin1 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');
    // Go: strings.Join(strings.Fields(v), " ") over the same bytes.
    assert.equal(canonicalHeaderValueGo(latin1('Prix\u00a0: 10\u00a0€')), latin1('Prix : 10 €'));
    assert.equal(canonicalHeaderValueGo(latin1('\u3000東京\u3000\u3000大阪 ')), latin1('東京 大阪'));
    for (const space of ['\u0085', '\u1680', '\u2000', '\u200a', '\u2028', '\u2029', '\u202f', '\u205f']) {
      assert.equal(canonicalHeaderValueGo(latin1(`a${space}b`)), 'a b', JSON.stringify(space));
    }
    // Not spaces: U+200B (zero width), U+00E0 (à, whose bytes are C3 A0), latin1 0xA0 alone.
    for (const v of [latin1('a\u200bb'), latin1('\u00e0 la'), 'a\xa0b'])
      assert.equal(canonicalHeaderValueGo(v), v);
    // Without multibyte spaces it is SigV4's folding.
    assert.equal(canonicalHeaderValueGo('  a   b\tc  '), 'a b c');
    // SigV4 itself leaves the Unicode spaces alone.
    assert.equal(canonicalHeaderValue(latin1('Prix\u00a0: 10')), latin1('Prix\u00a0: 10'));
  });
  void test('sortSignedHeaders refuses the headers the signer owns', () => {
    for (const h of ['host', 'x-amz-date', 'x-amz-security-token', 'authorization', 'date']) {
      assert.throws(() => sortSignedHeaders({ [h]: 'v' }), /signer sets/);
    }
  });
});

/** A request as the server would hand it over, built from raw header lines. */
function incoming(method: string, url: string, raw: string[]): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.method = method;
  req.url = url;
  req.rawHeaders = raw;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    const prev = req.headers[k];
    req.headers[k] = prev === undefined ? raw[i + 1]! : `${String(prev)}, ${raw[i + 1]!}`;
  }
  return req;
}

/**
 * Asserts that `sent` carries the Authorization @smithy/signature-v4 computes for exactly what
 * goes on the wire (every x-amz-* and Content-MD5 header sent, and host); returns the wire headers.
 */
async function assertSignedLikeSmithy(
  method: string,
  sent: ReturnType<typeof signAttempt>,
  c: StoreCredentials,
  t0: number,
): Promise<Record<string, string>> {
  const wire: Record<string, string> = {};
  for (let i = 0; i < sent.headers.length; i += 2)
    wire[sent.headers[i]!.toLowerCase()] = sent.headers[i + 1]!;
  const toSign: Record<string, string> = {};
  for (const k in wire)
    if (k === 'host' || k === 'content-md5' || k.startsWith('x-amz-')) toSign[k] = wire[k]!;
  delete toSign['x-amz-date'];
  delete toSign['x-amz-security-token'];
  const qi = sent.path.indexOf('?');
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(qi === -1 ? '' : sent.path.slice(qi + 1))) {
    const prev = query[k];
    query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  const date = new Date(
    wire['x-amz-date']!.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'),
  );
  assert.ok(Math.abs(date.getTime() - t0) < 60_000, 'x-amz-date is the current time');
  const ref = await new SmithySigner('us-east-1', c).sign(
    { method, path: qi === -1 ? sent.path : sent.path.slice(0, qi), query, headers: toSign },
    date,
  );
  assert.equal(wire.authorization, ref.authorization);
  return wire;
}

void describe('hot path: buildUpstream → signAttempt', () => {
  const backend = { hostHeader: '10.0.0.1:9000' } as Backend;
  const cases: [string, string, string, string[]][] = [
    ['GET', '/bkt/a%20b', '', ['Host', 'proxy:7480', 'X-Amz-Content-SHA256', 'UNSIGNED-PAYLOAD']],
    [
      'PUT',
      '/bkt/k?partNumber=2&uploadId=u%2B1',
      '',
      [
        'Host',
        'proxy:7480',
        'X-Amz-Content-SHA256',
        HEX,
        'Content-Length',
        '5',
        'X-Amz-Meta-Tag',
        '  spaced   out ',
        'x-amz-meta-multi',
        'one',
        'x-amz-meta-multi',
        'two',
        'Content-MD5',
        'XrY7u+Ae7tCTyyK7j1rNww==',
        'Authorization',
        'AWS4-HMAC-SHA256 Credential=client/…',
        'X-Amz-Date',
        '20200101T000000Z',
        'X-Amz-Security-Token',
        'client-token',
        'User-Agent',
        'test',
      ],
    ],
    [
      'GET',
      '/bkt?list-type=2&prefix=a%2Bb%20c&delimiter=%2F',
      '',
      ['Host', 'proxy', 'x-amz-content-sha256', HEX],
    ],
    ['GET', '/k', 'bkt', ['Host', 'bkt.s3.local', 'x-amz-content-sha256', 'UNSIGNED-PAYLOAD']],
  ];
  for (const c of [creds, withToken]) {
    for (const [method, url, virtualBucket, raw] of cases) {
      void test(`${method} ${url}${virtualBucket ? ' (virtual)' : ''}${c.sessionToken ? ' (session token)' : ''}`, async () => {
        const req = incoming(method, url, raw);
        const target = parseTarget(url, req.headers.host, virtualBucket ? ['s3.local'] : []);
        const sha = req.headers['x-amz-content-sha256'] as string;
        const up = buildUpstream(req, target, payloadMode(sha));
        const signer = new StoreSigner('us-east-1', c);
        const t0 = Date.now();
        const sent = signAttempt(up, target.bucket, virtualBucket !== '', backend, signer);
        const wire = await assertSignedLikeSmithy(method, sent, c, t0);
        assert.equal(wire['x-amz-security-token'], c.sessionToken);
        // The client's own auth is gone, its metadata bytes are kept as sent.
        assert.ok(!sent.headers.includes('client-token'));
        if (raw.includes('X-Amz-Meta-Tag')) assert.equal(wire['x-amz-meta-tag'], '  spaced   out ');
        if (raw.includes('x-amz-meta-multi')) assert.equal(wire['x-amz-meta-multi'], 'one,two');
      });
    }
  }
});

void describe('withPlainBody: a re-framed aws-chunked request with its whole payload instead', () => {
  const backend = { hostHeader: '10.0.0.1:9000' } as Backend;
  const payload = Buffer.from('<Delete><Object><Key>k</Key></Object></Delete>');
  const raw = [
    'Host',
    'proxy:7480',
    'x-amz-content-sha256',
    'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
    'Content-Encoding',
    'aws-chunked,gzip',
    'x-amz-decoded-content-length',
    String(payload.length),
    'x-amz-trailer',
    'x-amz-checksum-crc32',
    'X-Amz-Checksum-Crc32',
    'HEADERVAL', // also sent as a header: the trailer's value (which covers the body) wins
    'Content-Length',
    '99',
    'Transfer-Encoding',
    'chunked',
  ];
  for (const c of [creds, withToken]) {
    void test(`framing headers out, checksum trailer and payload hash in, signed${c.sessionToken ? ' (session token)' : ''}`, async () => {
      const req = incoming('POST', '/bkt?delete', raw);
      const target = parseTarget('/bkt?delete', req.headers.host, []);
      const up = buildUpstream(req, target, payloadMode('STREAMING-UNSIGNED-PAYLOAD-TRAILER'));
      const plain = withPlainBody(up, payload, [['x-amz-checksum-crc32', 'AAAAAA==']]);
      const t0 = Date.now();
      const sent = signAttempt(plain, target.bucket, false, backend, new StoreSigner('us-east-1', c));
      const wire = await assertSignedLikeSmithy('POST', sent, c, t0);
      assert.equal(wire['x-amz-content-sha256'], createHash('sha256').update(payload).digest('hex'));
      assert.equal(wire['x-amz-checksum-crc32'], 'AAAAAA==');
      const names = sent.headers.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
      assert.equal(names.filter((n) => n === 'x-amz-checksum-crc32').length, 1);
      assert.equal(wire['content-length'], String(payload.length));
      assert.equal(wire['content-encoding'], 'gzip');
      for (const framing of ['x-amz-decoded-content-length', 'x-amz-trailer', 'transfer-encoding'])
        assert.equal(wire[framing], undefined, framing);
      assert.equal(plain.releaseBody, false);
      const chunks: Buffer[] = [];
      for await (const chunk of plain.body! as AsyncIterable<Buffer>) chunks.push(chunk);
      assert.deepEqual(Buffer.concat(chunks), payload);
    });
  }
});

void describe('buildUpstream: aws-chunked bodies with trailers', () => {
  const raw = (mode: string, length: string[] = ['Content-Length', '99']): string[] => [
    'Host',
    'proxy:7480',
    'x-amz-content-sha256',
    mode,
    'Content-Encoding',
    'aws-chunked',
    'x-amz-decoded-content-length',
    '5',
    'x-amz-trailer',
    'x-amz-checksum-crc32',
    ...length,
  ];
  const contentLength = (mode: string, length?: string[]): string | undefined => {
    const req = incoming('PUT', '/bkt/k', raw(mode, length));
    const up = buildUpstream(req, parseTarget('/bkt/k', req.headers.host, []), payloadMode(mode));
    req.destroy();
    const i = up.headers.findIndex((h, j) => j % 2 === 0 && h.toLowerCase() === 'content-length');
    assert.equal(up.canonical.payloadHash, 'STREAMING-UNSIGNED-PAYLOAD-TRAILER');
    return i < 0 ? undefined : up.headers[i + 1];
  };
  void test('an unsigned client body goes on verbatim, with its own Content-Length', () => {
    assert.equal(contentLength('STREAMING-UNSIGNED-PAYLOAD-TRAILER'), '99');
  });
  void test('a signed one is re-framed without its signatures, in fixed chunks of a known length', () => {
    // 5 bytes: "5\r\n" + 5 + "\r\n", "0\r\n", "x-amz-checksum-crc32:" + 8 + "\r\n", "\r\n".
    assert.equal(contentLength('STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER'), String(10 + 3 + 31 + 2));
  });
  void test('an unsigned one sent chunked is re-framed the same way, to have a length', () => {
    assert.equal(
      contentLength('STREAMING-UNSIGNED-PAYLOAD-TRAILER', ['Transfer-Encoding', 'chunked']),
      String(10 + 3 + 31 + 2),
    );
  });
});
