/**
 * The request path's pure parts: target parsing, canonical encoding (held to @smithy's), the
 * aws-chunked decoder, payload modes, presign stripping, config validation, the signer.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { setImmediate as setImmediateP } from 'node:timers/promises';
import { text } from 'node:stream/consumers';
import { getCanonicalQuery } from '@smithy/signature-v4';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { ConfigError, parseDocumentText, parseProxyConfig } from '../../../proxy/config/parse.ts';
import { Errors, ProxyError } from '../../../proxy/errors.ts';
import { canonicalQuery, encodePath, toQueryMap } from '../../../proxy/s3/canonical.ts';
import { parseTarget } from '../../../proxy/s3/target.ts';
import { AwsChunkedDecoder, type AwsChunkedDecoderOptions } from '../../../proxy/sigv4/chunked.ts';
import { stripPresignParams } from '../../../proxy/sigv4/client-auth.ts';
import { payloadMode } from '../../../proxy/sigv4/payload.ts';
import { StoreSigner } from '../../../proxy/sigv4/signer.ts';
import { NodeSha256 } from '../../../proxy/sigv4/smithy-reference.ts';
import { awsChunked } from '../../integration/proxy/raw.ts';

void describe('parseTarget', () => {
  void test('path-style, decoded once', () => {
    const t = parseTarget('/my-bucket/a%20b/c%2Bd?prefix=x&uploads', 'localhost:7480', []);
    assert.equal(t.bucket, 'my-bucket');
    assert.equal(t.key, 'a b/c+d');
    assert.equal(t.query.get('uploads'), '');
    assert.equal(t.style, 'path');
  });
  void test('virtual-hosted under a configured domain', () => {
    const t = parseTarget('/k/x', 'my-bucket.s3.localhost:7480', ['s3.localhost']);
    assert.deepEqual([t.bucket, t.key, t.style], ['my-bucket', 'k/x', 'virtual']);
    assert.equal(parseTarget('/', 'other.example', ['s3.localhost']).bucket, undefined);
  });
  void test('a fully qualified Host (trailing dot) is the same virtual host', () => {
    const t = parseTarget('/k.txt', 'My-Bucket.s3.localhost.:7480', ['s3.localhost']);
    assert.deepEqual([t.bucket, t.key, t.style], ['my-bucket', 'k.txt', 'virtual']);
    assert.deepEqual(
      [
        parseTarget('/bkt/k', 's3.localhost.', ['s3.localhost']).bucket,
        parseTarget('/bkt/k', 's3.localhost.', []).style,
      ],
      ['bkt', 'path'],
    );
  });
  void test('service level and bucket level', () => {
    assert.equal(parseTarget('/', 'h', []).bucket, undefined);
    const b = parseTarget('/bkt?list-type=2', 'h', []);
    assert.deepEqual([b.bucket, b.key], ['bkt', undefined]);
    assert.equal(parseTarget('/bkt/', 'h', []).key, undefined);
  });
  for (const bad of [
    '/bkt/a/../b',
    '/bkt/..',
    '/bkt/a/./b',
    '/bkt/%2e%2E/x',
    '/bkt/a%2fb',
    '/bkt//a',
    '/bkt/a//b',
    '/bkt/%E0%A4%A',
    '//x',
    'http://evil/bkt/k',
  ]) {
    void test(`refuses ${bad}`, () => assert.throws(() => parseTarget(bad, 'h', []), ProxyError));
  }
  for (const bad of [
    '/Upper/k',
    '/a_b/k',
    '/192.168.0.1/k',
    '/ab/k',
    '/a..b/k',
    '/bkt%2Fx/k',
    `/${'a'.repeat(64)}/k`,
  ]) {
    void test(`invalid bucket ${bad}`, () =>
      assert.throws(
        () => parseTarget(bad, 'h', []),
        (e: ProxyError) => e.spec.code === 'InvalidBucketName',
      ));
  }
  void test('absolute-form naming the Host itself is accepted', () => {
    assert.equal(parseTarget('http://h:1/bkt/k', 'h:1', []).key, 'k');
  });
});

void describe('canonical encoding', () => {
  void test('the forwarded query string equals @smithy getCanonicalQuery', () => {
    const raw = 'b=2&a=1&a=0&uploads&prefix=x%2By z&k~=%E2%82%AC&list-type=2&marker=a%2Fb&x!=(*)';
    const q = toQueryMap(new URLSearchParams(raw));
    assert.equal(canonicalQuery(q), getCanonicalQuery(new HttpRequest({ query: q })));
  });
  void test('paths: RFC 3986, slashes kept in keys', () => {
    assert.equal(encodePath('b', "a b/c+d/é!'()*~.txt", false), '/b/a%20b/c%2Bd/%C3%A9%21%27%28%29%2A~.txt');
    assert.equal(encodePath('b', undefined, false), '/b');
    assert.equal(encodePath('b', 'k', true), '/k');
    assert.equal(encodePath(undefined, undefined, false), '/');
  });
});

void describe('presign and payload', () => {
  void test('presign params are stripped, others kept', () => {
    const q = new URLSearchParams(
      'X-Amz-Algorithm=a&X-Amz-Credential=c&X-Amz-Date=d&X-Amz-Expires=1&X-Amz-SignedHeaders=h&X-Amz-Signature=s&X-Amz-Security-Token=t&versionId=v&x-id=GetObject',
    );
    stripPresignParams(q);
    assert.equal(q.toString(), 'versionId=v&x-id=GetObject');
    const v2 = new URLSearchParams('AWSAccessKeyId=a&Signature=s&Expires=1&partNumber=2');
    stripPresignParams(v2);
    assert.equal(v2.toString(), 'partNumber=2');
  });
  void test('payload modes', () => {
    assert.deepEqual(payloadMode(undefined), { kind: 'unsigned' });
    assert.deepEqual(payloadMode('UNSIGNED-PAYLOAD'), { kind: 'unsigned' });
    assert.equal(payloadMode('a'.repeat(64)).kind, 'sha256');
    assert.deepEqual(payloadMode('STREAMING-AWS4-HMAC-SHA256-PAYLOAD'), {
      kind: 'chunked',
      signed: true,
      trailer: false,
    });
    assert.deepEqual(payloadMode('STREAMING-UNSIGNED-PAYLOAD-TRAILER'), {
      kind: 'chunked',
      signed: false,
      trailer: true,
    });
    assert.throws(() => payloadMode('bogus'), ProxyError);
  });
});

async function decode(
  body: Buffer,
  reframe: boolean | 'verbatim',
  decodedLength: number | undefined,
  split = 7,
): Promise<string> {
  const parts: Buffer[] = [];
  for (let i = 0; i < body.length; i += split) parts.push(body.subarray(i, i + split));
  const output = reframe === 'verbatim' ? 'verbatim' : reframe ? 'reframe' : 'payload';
  return text(
    new AwsChunkedDecoder(Readable.from(parts), { output, decodedLength, trailers: CRC32_TRAILER }),
  );
}

/** What a client's `x-amz-trailer: x-amz-checksum-crc32` on a signed body allows. */
const CRC32_TRAILER = { declared: ['x-amz-checksum-crc32'], signed: true };

void describe('AwsChunkedDecoder', () => {
  const data = Buffer.from('hello world, this is aws-chunked data');
  void test('decodes signed chunks to raw bytes, across arbitrary input splits', async () => {
    for (const split of [1, 3, 7, 1000]) {
      const { body } = awsChunked(data, { chunkSize: 5, signed: true });
      assert.equal(await decode(body, false, data.length, split), data.toString());
    }
  });
  void test('a body of 1-byte chunks goes out in a few pieces per client read, not one per byte', async () => {
    const object = Buffer.from('x'.repeat(5000) + 'y'.repeat(5000));
    for (const [output, signed] of [
      ['payload', true],
      ['reframe', true],
      ['reframe', false],
    ] as const) {
      const { body } = awsChunked(object, { chunkSize: 1, signed, trailer: output === 'reframe' });
      const parts: Buffer[] = [];
      for (let i = 0; i < body.length; i += 64 * 1024) parts.push(body.subarray(i, i + 64 * 1024));
      const decoder = new AwsChunkedDecoder(Readable.from(parts), {
        output,
        decodedLength: object.length,
        trailers: CRC32_TRAILER,
      });
      let pieces = 0;
      const out: Buffer[] = [];
      decoder.on('data', (c: Buffer) => {
        pieces++;
        out.push(Buffer.from(c));
      });
      await new Promise((resolve, reject) => decoder.on('end', resolve).on('error', reject));
      const got = Buffer.concat(out);
      if (output === 'payload') assert.deepEqual(got, object);
      else {
        const expected = awsChunked(object, { chunkSize: 1, signed: false, trailer: true }).body;
        assert.equal(got.toString('latin1'), expected.toString('latin1'));
      }
      assert.ok(pieces <= parts.length * 2 + 2, `${output}: ${pieces} pieces from ${parts.length} reads`);
    }
  });
  void test('reads the client body only as fast as its consumer takes the output', async () => {
    // Ten client chunks of one aws-chunked chunk each: each makes output, so a paused consumer
    // must stop the reading of the next one.
    const object = Buffer.alloc(10 * 100, 'x');
    const { body } = awsChunked(object, { chunkSize: 100, signed: true });
    // One framed chunk: its head, 100 bytes, CRLF. The last client chunk also has the ending.
    const piece = `64;chunk-signature=${'ab'.repeat(32)}\r\n`.length + 100 + 2;
    const source = new PassThrough({ highWaterMark: 1 }); // holds all ten: nothing here waits on it
    for (let i = 0; i < 9; i++) source.write(body.subarray(i * piece, (i + 1) * piece));
    source.write(body.subarray(9 * piece));
    source.end();
    const decoder = new AwsChunkedDecoder(source, { output: 'payload', decodedLength: object.length });
    const got: Buffer[] = [];
    decoder.on('data', (c: Buffer) => {
      got.push(c);
      decoder.pause(); // a consumer whose socket is full
    });
    for (let taken = 1; taken <= 3; taken++) {
      await setImmediateP();
      await setImmediateP();
      assert.equal(source.readableLength, body.length - taken * piece, `${taken} client chunk(s) read`);
      assert.equal(Buffer.concat(got).length, taken * 100, 'what was read went on');
      decoder.resume();
    }
    decoder.removeAllListeners('data');
    got.push(Buffer.from(await text(decoder)));
    assert.ok(Buffer.concat(got).equals(object), 'the whole object, in order');
  });
  void test('a failure of the client body fails the decoder, which then stops reading it', async () => {
    const source = new PassThrough();
    const decoder = new AwsChunkedDecoder(source, { output: 'payload', decodedLength: 10 });
    source.write('a\r\n0123');
    const failed = assert.rejects(text(decoder), /client went away/);
    await setImmediateP();
    source.destroy(new Error('client went away'));
    await failed;
    assert.equal(source.listenerCount('data'), 0, 'no longer reading the client body');
  });
  void test('a client body that closes early without an error, or is over already, fails the decoder', async () => {
    const closed = new PassThrough();
    const decoder = new AwsChunkedDecoder(closed, { output: 'payload', decodedLength: 10 });
    closed.write('a\r\n0123');
    const failed = assert.rejects(text(decoder), (err: unknown) => err instanceof ProxyError);
    await setImmediateP();
    closed.destroy();
    await failed;
    const ended = Readable.from([]);
    await text(ended);
    await assert.rejects(
      text(new AwsChunkedDecoder(ended, { output: 'payload', decodedLength: 10 })),
      ProxyError,
    );
  });
  void test('a consumer that destroys the decoder mid-chunk: no throw, the client body left paused', async () => {
    const { body } = awsChunked(data, { chunkSize: 5, signed: false });
    const source = new PassThrough();
    const decoder = new AwsChunkedDecoder(source, { output: 'payload', decodedLength: data.length });
    let views = 0;
    decoder.on('data', () => {
      if (++views === 2) decoder.destroy();
    });
    source.end(body); // one client chunk of several aws-chunked chunks
    await new Promise((resolve) => decoder.once('close', resolve));
    assert.equal(views, 2, 'nothing handed on after the destroy');
    assert.equal(source.listenerCount('data'), 0);
    assert.equal(source.isPaused(), true);
  });
  void test('re-frames as unsigned with the checksum trailer, dropping the trailer signature', async () => {
    const { body, checksum } = awsChunked(data, { chunkSize: 16, signed: true, trailer: true });
    const out = await decode(body, true, data.length);
    const expected = awsChunked(data, { chunkSize: 16, signed: false, trailer: true }).body.toString();
    assert.equal(out, expected);
    assert.ok(out.includes(`x-amz-checksum-crc32:${checksum}`));
    assert.ok(!out.includes('trailer-signature'));
  });
  void test('verbatim: an unsigned trailer body passes through byte for byte, across any input split', async () => {
    const { body } = awsChunked(data, { chunkSize: 8, signed: false, trailer: true });
    for (const split of [1, 5, 7, 1000])
      assert.equal(await decode(body, 'verbatim', data.length, split), body.toString());
  });
  void test('verbatim: a body cut short at its Content-Length keeps its last buffer back', async () => {
    const { body } = awsChunked(data, { chunkSize: 8, signed: false, trailer: true });
    for (const cut of [body.length - 1, body.length - 3, 20]) {
      const emitted: Buffer[] = [];
      const parts = [body.subarray(0, Math.floor(cut / 2)), body.subarray(Math.floor(cut / 2), cut)];
      const decoder = new AwsChunkedDecoder(Readable.from(parts), {
        output: 'verbatim',
        decodedLength: data.length,
        inputLength: cut,
      });
      decoder.on('data', (c: Buffer) => emitted.push(c));
      await assert.rejects(text(decoder), ProxyError);
      assert.ok(Buffer.concat(emitted).length < cut, `cut at ${cut}: all of it went on`);
    }
  });
  void test('what would complete the backend body is held back until the input ends cleanly', async () => {
    const { body } = awsChunked(data, { chunkSize: 8, signed: false, trailer: true });
    const ok = body.toString('latin1');
    const lastData = ok.lastIndexOf('\r\n0\r\n') + 2; // up to the data's last CRLF
    const bad: [string, Buffer[]][] = [
      ['bytes after the end, in a later buffer', [body, Buffer.from('x')]],
      ['no last chunk after the data', [body.subarray(0, lastData)]],
      ['a bad last chunk after the data', [body.subarray(0, lastData), Buffer.from('zz\r\n\r\n')]],
    ];
    for (const output of ['payload', 'reframe', 'verbatim'] as const) {
      for (const [what, parts] of bad) {
        const emitted: Buffer[] = [];
        const decoder = new AwsChunkedDecoder(Readable.from(parts), { output, decodedLength: data.length });
        decoder.on('data', (c: Buffer | string) => emitted.push(Buffer.from(c)));
        await assert.rejects(text(decoder), ProxyError, `${output}: ${what}`);
        const out = Buffer.concat(emitted);
        if (output === 'payload')
          assert.ok(out.length < data.length, `${output}: ${what}: all payload went on`);
        else if (output === 'verbatim')
          assert.ok(out.length < body.length, `${output}: ${what}: all of it went on`);
        else
          assert.ok(!out.toString('latin1').includes('\r\n0\r\n'), `${output}: ${what}: the ending went on`);
      }
    }
  });
  void test('verbatim: a chunk extension is refused (it would be forwarded)', async () => {
    const { body } = awsChunked(data, { chunkSize: 8, signed: true, trailer: true });
    await assert.rejects(decode(body, 'verbatim', data.length), ProxyError);
  });
  void test('errors: bad size, missing CRLF, short, long, trailing bytes, truncated', async () => {
    const ok = awsChunked(data, { chunkSize: 8, signed: false, trailer: true }).body.toString('latin1');
    const cases: [string, number | undefined][] = [
      [ok.replace(/^8/, 'g'), data.length],
      [ok.replace('\r\n8', 'xx8'), data.length],
      [ok, data.length + 1],
      [ok, data.length - 1],
      [ok + 'extra', data.length],
      [ok.slice(0, 20), data.length],
    ];
    for (const [body, len] of cases) {
      for (const output of [true, 'verbatim'] as const) {
        await assert.rejects(
          decode(Buffer.from(body, 'latin1'), output, len),
          ProxyError,
          `${String(output)} ${JSON.stringify(body.slice(0, 30))}`,
        );
      }
    }
  });
});

void describe('AwsChunkedDecoder: trailers', () => {
  const data = Buffer.from('trailer test data');
  const withTrailers = (lines: string[]): Buffer =>
    Buffer.from(
      `${data.length.toString(16)}\r\n${data.toString('latin1')}\r\n0\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`,
      'latin1',
    );
  void test('a well-formed trailer is kept, the trailer signature dropped', async () => {
    const input = withTrailers([
      'x-amz-checksum-crc32:AAAAAA==',
      'x-amz-trailer-signature:' + 'ab'.repeat(32),
    ]);
    const decoder = new AwsChunkedDecoder(Readable.from([input]), {
      output: 'payload',
      decodedLength: data.length,
      trailers: CRC32_TRAILER,
    });
    const out = await text(decoder);
    assert.equal(out, data.toString());
    assert.deepEqual(decoder.trailers, [['x-amz-checksum-crc32', 'AAAAAA==']]);
  });
  const bad: [string, string[]][] = [
    ['a bare CR in a value', ['x-amz-checksum-crc32:AAAA\rInjected: 1']],
    ['a NUL in a value', ['x-amz-checksum-crc32:AAAA\0']],
    ['a space in a name', ['x-amz-checksum-a b:AAAA']],
    [
      'a trailer x-amz-trailer did not declare',
      ['x-amz-checksum-crc32:AAAAAA==', 'x-amz-checksum-type:FULL_OBJECT'],
    ],
    ['a declared trailer twice', ['x-amz-checksum-crc32:AAAAAA==', 'x-amz-checksum-crc32:BBBBBB==']],
    ['two trailer signatures', ['x-amz-trailer-signature:00', 'x-amz-trailer-signature:00']],
    ['a byte above 0x7f in a value', ['x-amz-checksum-crc32:AAAAAA=\xe9']],
  ];
  void test('trailers where none may come: a body framed without them, a trailer signature in an unsigned body', async () => {
    const cases: [string, string[], AwsChunkedDecoderOptions['trailers']][] = [
      ['no trailers allowed', ['x-amz-checksum-crc32:AAAAAA=='], undefined],
      ['no trailers allowed, a signature', ['x-amz-trailer-signature:00'], undefined],
      [
        'unsigned body',
        ['x-amz-checksum-crc32:AAAAAA==', 'x-amz-trailer-signature:00'],
        { declared: ['x-amz-checksum-crc32'], signed: false },
      ],
    ];
    for (const [what, lines, trailers] of cases) {
      const decoder = new AwsChunkedDecoder(Readable.from([withTrailers(lines)]), {
        output: 'payload',
        decodedLength: data.length,
        trailers,
      });
      await assert.rejects(
        text(decoder),
        (err: unknown) => err instanceof ProxyError && err.spec === Errors.MalformedChunkedEncoding,
        what,
      );
    }
  });
  for (const [what, lines] of bad) {
    void test(`refused: ${what}`, async () => {
      await assert.rejects(decode(withTrailers(lines), false, data.length), (err: unknown) => {
        assert.ok(err instanceof ProxyError);
        assert.equal(err.spec, Errors.MalformedChunkedEncoding);
        return true;
      });
    });
  }
});

void describe('config documents (JSON, YAML)', () => {
  void test('a key given twice in one object is refused, in JSON as in YAML', () => {
    for (const text of [
      '{"grants": [], "grants": [{"bucket": "all"}]}',
      '{"a": {"b": 1, "\\u0062": 2}}',
      'grants: []\ngrants: [x]\n',
    ]) {
      assert.throws(
        () => parseDocumentText(text, 'policy.json'),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError, String(err));
          assert.match(err.message, /policy\.json.*not valid YAML\/JSON/);
          return true;
        },
      );
    }
  });

  void test('the same key in different objects, and keys or braces inside strings, are fine', () => {
    const text = '{"a": {"k": 1}, "b": {"k": "}{:\\"k\\""}, "c": [{"k": 1}, {"k": 2}], "k": ["{"]}';
    assert.deepEqual(parseDocumentText(text, 'p.json'), JSON.parse(text));
    assert.deepEqual(parseDocumentText('a: 1\nb: [x, y]\n', 'p.yaml'), { a: 1, b: ['x', 'y'] });
    assert.throws(() => parseDocumentText('{"a": [', 'p.json'), /p\.json.*not valid YAML\/JSON/);
  });
});

void describe('config', () => {
  const base = {
    stores: [{ name: 'm', endpoints: ['http://127.0.0.1:9000'], credentials: { file: 'c.json' } }],
    grants: [{ store: 'm', bucket: 'bkt', access: ['read'] }],
  };
  void test('defaults and relative credential paths', () => {
    const c = parseProxyConfig({ config: base, configDir: '/etc/sluice' });
    assert.deepEqual(c.listen, { host: '127.0.0.1', port: 7480 });
    assert.deepEqual(c.admin, { host: '', port: 7481 }); // every address, both families
    assert.equal(c.policy.stores[0]!.credentials.file, '/etc/sluice/c.json');
    assert.equal(c.policy.stores[0]!.region, 'us-east-1');
  });
  void test('virtual-host domains are matched lower-case and without a trailing dot', () => {
    const c = parseProxyConfig({
      config: { ...base, virtualHostDomains: ['S3.Example.', 's3.local'] },
      configDir: '/',
    });
    assert.deepEqual(c.virtualHostDomains, ['s3.example', 's3.local']);
    assert.equal(parseTarget('/k', 'b-1.s3.example.', c.virtualHostDomains).bucket, 'b-1');
  });
  const bad: [unknown, string][] = [
    [
      { ...base, stores: [{ ...base.stores[0], endpoints: ['http://a:1', 'ftp://x'] }] },
      'stores[0].endpoints[1].url: must be http(s)://host:port',
    ],
    [{ ...base, grants: [{ store: 'nope', bucket: 'bkt', access: ['read'] }] }, 'grants[0].store'],
    [{ ...base, grants: [{ store: 'm', bucket: 'Bad_B', access: ['read'] }] }, 'grants[0].bucket'],
    [{ ...base, grants: [{ store: 'm', bucket: 'bkt', access: ['fly'] }] }, 'grants[0].access[0]'],
    [{ ...base, timeouts: { clientIdleMs: -1 } }, 'timeouts.clientIdleMs'],
    [{ ...base, timeout: {} }, 'timeout: unknown field'],
    [{ ...base, listen: 'nope' }, 'listen: must be host:port'],
    [{ ...base, listen: { host: '127.0.0.1' } }, 'listen.port: must be an integer between 0 and 65535'],
    // Past 2^31 - 1 ms Node's setTimeout fires after 1 ms: every request would time out.
    [{ ...base, timeouts: { backendFirstByteMs: 3_000_000_000 } }, 'timeouts.backendFirstByteMs'],
    [{ ...base, shutdown: { graceMs: 2 ** 31 } }, 'shutdown.graceMs'],
    [
      { ...base, stores: [{ ...base.stores[0], balancing: { dnsRefreshMs: 2 ** 31 } }] },
      'stores[0].balancing.dnsRefreshMs',
    ],
    [
      { ...base, stores: [{ ...base.stores[0], balancing: { dnsAddressRetentionMs: -1 } }] },
      'stores[0].balancing.dnsAddressRetentionMs',
    ],
    [
      { ...base, grants: [{ store: 'm', bucket: 'bkt', access: ['read'], cache: { ttlSeconds: -5 } }] },
      'grants[0].cache.ttlSeconds',
    ],
    [
      { ...base, grants: [{ store: 'm', bucket: 'bkt', access: ['read'], cache: { ttl: 5 } }] },
      'grants[0].cache',
    ],
    [
      {
        ...base,
        stores: [{ ...base.stores[0], endpoints: ['http://a:1', { url: 'http://a:1/', zone: 'b' }] }],
      },
      'stores[0].endpoints[1]: http://a:1 is listed twice',
    ],
    [{ ...base, stores: [{ ...base.stores[0], provider: 'MinIO' }] }, 'stores[0].provider: must be one of'],
    // balancing: typos and wrong types name the field instead of the default silently applying.
    ...(
      [
        [{ healthcheck: {} }, 'stores[0].balancing.healthcheck: unknown field'],
        [{ healthCheck: { intervalMS: 100 } }, 'stores[0].balancing.healthCheck.intervalMS: unknown field'],
        [{ algoritm: 'round-robin' }, 'stores[0].balancing.algoritm: unknown field'],
        [{ outlier: 'off' }, 'stores[0].balancing.outlier: must be an object'],
        [{ outlier: { maxEjectionPercent: '50' } }, 'stores[0].balancing.outlier.maxEjectionPercent'],
        [{ outlier: { maxEjectionMs: 5 } }, 'stores[0].balancing.outlier.maxEjectionMs: unknown field'],
        [{ healthCheck: { path: 5 } }, 'stores[0].balancing.healthCheck.path'],
        [{ healthCheck: { path: '/ok\r\nX-Injected: 1' } }, 'stores[0].balancing.healthCheck.path'],
        [{ healthCheck: { intervalMs: 0.5 } }, 'stores[0].balancing.healthCheck.intervalMs'],
        [
          { healthCheck: { expectStatus: 200 } },
          'stores[0].balancing.healthCheck.expectStatus: must be a string',
        ],
        [
          { healthCheck: { expectStatus: '200-399,404-400' } },
          'stores[0].balancing.healthCheck.expectStatus: "404-400" ends before it starts',
        ],
        [
          { healthCheck: { expectStatus: '2xx' } },
          'stores[0].balancing.healthCheck.expectStatus: "2xx" is not a status',
        ],
        [{ algorithm: 'random' }, 'stores[0].balancing.algorithm'],
      ] as const
    ).map(([balancing, msg]): [unknown, string] => [
      { ...base, stores: [{ ...base.stores[0], balancing }] },
      msg,
    ]),
  ];
  void test("the operator's --policy document: balancing settings this sidecar cannot use are left out; the config file stays strict", () => {
    const store = {
      ...base.stores[0],
      balancing: {
        algorithm: 'least-in-flight',
        healthCheck: { expectStatus: '299-200', rise: 3 },
        zoneAware: true,
      },
    };
    const c = parseProxyConfig({
      config: {},
      configDir: '/',
      policy: { raw: { version: 1, stores: [store], grants: base.grants }, file: '/p/policy.json' },
    });
    assert.deepEqual(c.policy.stores[0]?.balancing, {
      algorithm: 'least-in-flight',
      healthCheck: { rise: 3 },
    });
    assert.deepEqual(
      c.droppedSettings?.map((d) => d.field),
      ['stores[0].balancing.zoneAware', 'stores[0].balancing.healthCheck.expectStatus'],
    );
    assert.match(c.droppedSettings[1]!.problem, /ends before it starts/);
    assert.equal(c.policy.grants.length, base.grants.length);
    assert.throws(
      () => parseProxyConfig({ config: { ...base, stores: [store] }, configDir: '/' }),
      /stores\[0\]\.balancing\.zoneAware: unknown field/,
    );
  });
  void test('a balancing key that could name another setting or a prototype refuses the document, not a setting', () => {
    const policyWith = (balancingJson: string) =>
      parseDocumentText(
        `{"version":1,"stores":[{"name":"m","endpoints":["http://127.0.0.1:9000"],"credentials":{"file":"c.json"},` +
          `"balancing":${balancingJson}}],"grants":[]}`,
        'policy.json',
      );
    const load = (raw: unknown) =>
      parseProxyConfig({ config: {}, configDir: '/', policy: { raw, file: '/p/policy.json' } });
    const own = (): string[] => Object.getOwnPropertyNames(Object.prototype).sort();
    const before = own();
    assert.throws(() => load(policyWith('{"__proto__":{"toString":1}}')), /__proto__/);
    // Own keys named like prototype members are plain settings: left out, nothing else touched.
    const named = load(policyWith('{"healthCheck":{"toString":1,"constructor":2,"rise":3}}'));
    assert.deepEqual(named.policy.stores[0]?.balancing, { healthCheck: { rise: 3 } });
    assert.deepEqual(
      named.droppedSettings?.map((d) => d.field),
      ['stores[0].balancing.healthCheck.toString', 'stores[0].balancing.healthCheck.constructor'],
    );
    assert.deepEqual(own(), before, 'Object.prototype untouched');
    // A dotted key is read strictly: "healthCheck.path" must not drop the real healthCheck.path.
    assert.throws(
      () => load(policyWith('{"healthCheck.path":1,"healthCheck":{"path":"/h"}}')),
      /balancing\.healthCheck\.path: unknown field/,
    );
  });
  void test('balancing is read field by field', () => {
    const balancing = {
      algorithm: 'least-in-flight',
      dnsRefreshMs: 5000,
      healthCheck: {
        path: '/health',
        expectStatus: '200-299',
        intervalMs: 1000,
        timeoutMs: 500,
        rise: 2,
        fall: 3,
      },
      outlier: { consecutive5xx: 3, baseEjectionMs: 10_000, maxEjectionPercent: 30 },
    };
    const c = parseProxyConfig({
      config: { ...base, stores: [{ ...base.stores[0], balancing }] },
      configDir: '/',
    });
    assert.deepEqual(c.policy.stores[0]?.balancing, balancing);
  });
  void test('the longest timer Node takes is accepted', () => {
    const c = parseProxyConfig({
      config: { ...base, timeouts: { backendIdleMs: 2 ** 31 - 1 } },
      configDir: '/',
    });
    assert.equal(c.timeouts.backendIdleMs, 2_147_483_647);
  });
  void test('a flag overrides the file, whose own value is still checked', () => {
    const c = parseProxyConfig({
      config: { ...base, logLevel: 'warn', listen: '127.0.0.1:9000' },
      configDir: '/',
      flags: { logLevel: 'debug', listen: '127.0.0.1:9001' },
    });
    assert.equal(c.logLevel, 'debug');
    assert.equal(c.listen.port, 9001);
    for (const [config, flags, msg] of [
      [{ ...base, logLevel: 'INFO' }, { logLevel: 'debug' }, 'logLevel: must be one of'],
      [{ ...base, listen: 'nope' }, { listen: '127.0.0.1:1' }, 'listen: must be host:port'],
      [{ ...base, admin: { port: 1 } }, { admin: '127.0.0.1:1' }, 'admin.host'],
    ] as const) {
      assert.throws(
        () => parseProxyConfig({ config, configDir: '/', flags }),
        (e: Error) => e instanceof ConfigError && e.message.includes(msg),
      );
    }
  });
  void test('a grant carries its read-cache settings', () => {
    const grants = [
      { store: 'm', bucket: 'bkt', access: ['read'], cache: { ttlSeconds: 60, maxSizeBytes: 1024 } },
    ];
    const c = parseProxyConfig({ config: { ...base, grants }, configDir: '/' });
    assert.deepEqual(c.policy.grants[0]?.cache, { ttlSeconds: 60, maxSizeBytes: 1024 });
  });
  for (const [config, msg] of bad) {
    void test(`names the bad field: ${msg}`, () => {
      assert.throws(
        () => parseProxyConfig({ config, configDir: '/' }),
        (e: Error) => e instanceof ConfigError && e.message.includes(msg),
      );
    });
  }
});

void describe('StoreSigner', () => {
  void test('matches a plain @smithy signature, byte for byte, with a session token', async () => {
    const creds = { accessKeyId: 'AKID', secretAccessKey: 'SECRET', sessionToken: 'TOKEN' };
    const now = new Date('2026-01-02T03:04:05Z');
    const input = {
      method: 'PUT',
      path: '/b/a%20b',
      query: { uploads: '', partNumber: '1' },
      headers: { host: 'h:9000', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'x-amz-meta-a': 'x' },
    };
    const ours = new StoreSigner('us-east-1', creds).sign(input, now);
    const ref = await new SignatureV4({
      credentials: creds,
      region: 'us-east-1',
      service: 's3',
      sha256: NodeSha256,
      uriEscapePath: false,
    }).sign(new HttpRequest({ ...input, hostname: 'h', headers: { ...input.headers } }), {
      signingDate: now,
    });
    assert.equal(ours.authorization, ref.headers.authorization);
    assert.equal(ours['x-amz-security-token'], 'TOKEN');
    assert.match(
      ours.authorization!,
      /SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-meta-a;x-amz-security-token,/,
    );
  });
});
