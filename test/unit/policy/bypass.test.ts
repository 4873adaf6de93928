/**
 * One test per known bypass (issue 4). The policy under attack grants `team/` of bucket `data`
 * (read, write, list, delete) and read on `public` — nothing else.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createAuthorizer } from '../../../proxy/policy/index.ts';
import type { Decision } from '../../../proxy/policy/index.ts';
import type { PodPolicyDocument } from '../../../proxy/config/types.ts';
import { parseTarget } from '../../../proxy/s3/target.ts';
import { canonicalTarget, encodeObjectPath } from '../../../proxy/policy/target.ts';
import { VHOST, policy, run } from './helpers.ts';

const authz = createAuthorizer(
  policy([
    {
      store: 's1',
      bucket: 'data',
      prefixes: ['team/'],
      access: ['read', 'write', 'list', 'delete'],
      source: 'team',
    },
    { store: 's1', bucket: 'public', access: ['read'], source: 'public' },
    { store: 's2', bucket: 'elsewhere', access: ['read'], source: 'elsewhere' },
  ]),
  { virtualHostDomains: [VHOST] },
);

function denied(d: Decision, reason?: string): void {
  assert.equal(d.allow, false, d.allow ? `allowed via ${d.matched.join(',')}` : '');
  if (reason && !d.allow) assert.equal(d.reason, reason, d.message);
}

function keysBody(keys: string[]): Buffer {
  const objs = keys.map((k) => `<Object><Key>${k}</Key></Object>`).join('');
  return Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${objs}</Delete>`,
  );
}

function deleteObjects(body: Buffer): Decision {
  const d = run(authz, 'POST', '/data?delete', { 'content-length': String(body.length) });
  assert.ok(d.allow && d.bodyCheck, 'the pre-check passes and asks for the body');
  return d.bodyCheck.check(body);
}

void describe('CopyObject / UploadPartCopy', () => {
  const put = (source: string, target = '/data/team/dst') =>
    run(authz, 'PUT', target, { 'x-amz-copy-source': source });

  void test('allowed: source and destination both granted', () => {
    const d = put('/data/team/src');
    assert.ok(d.allow);
    assert.deepEqual(d.matched, ['team']);
    assert.ok(put('public/x%20y.txt').allow);
    assert.ok(put('data/team/src?versionId=3HL4kqtJlcpXroDTDmJ').allow);
    // AWS's own example IDs have / and +; botocore sends them raw, other SDKs encoded.
    assert.ok(put('data/team/src?versionId=3/L4kqtJl+cpXroDTDmJ=').allow);
    assert.ok(put('data/team/src?versionId=3%2FL4kqtJl%2BcpXroDTDmJ%3D').allow);
  });
  void test('source outside the grant', () => denied(put('/data/secret/x'), 'no-grant'));
  void test('source in an ungranted bucket', () => denied(put('/other/x'), 'no-grant'));
  void test('read-only source, write on destination still needed', () =>
    denied(put('/data/team/src', '/public/dst'), 'no-grant'));
  void test('UploadPartCopy checks the source too', () => {
    denied(put('/data/secret/x', '/data/team/dst?partNumber=1&uploadId=u'), 'no-grant');
    assert.ok(put('/data/team/x', '/data/team/dst?partNumber=1&uploadId=u').allow);
  });
  void test('encoded dot segments in the source', () => {
    denied(put('/data/team/..%2Fsecret%2Fx'), 'bad-copy-source');
    denied(put('/data/team/%2e%2E/secret/x'), 'bad-copy-source');
    denied(put('/data%2Fteam/../secret'), 'bad-copy-source');
  });
  void test('double encoding (a backend decoding twice would see ..)', () =>
    denied(put('/data/team/%252e%252e/x'), 'bad-copy-source'));
  void test('raw + (query-unescaping backends read a space)', () =>
    denied(put('/data/team/a+b'), 'bad-copy-source'));
  void test('encoded ? or #: allowed when the key cut there (what a re-parsing backend reads) is granted too', () => {
    assert.ok(put('/data/team/track%20%231.mp3').allow);
    assert.ok(put('/data/team/what%3F.txt').allow);
    assert.ok(put('/data/team/x%3FversionId=1').allow, 'at worst another version of team/x, also granted');
  });
  void test('encoded ? or # where the cut key leaves the grant, is empty or is a dot segment', () => {
    const narrow = createAuthorizer(
      policy([{ store: 's1', bucket: 'data', prefixes: ['q?/'], access: ['read', 'write'], source: 'q' }]),
    );
    denied(run(narrow, 'PUT', '/data/q%3F/dst', { 'x-amz-copy-source': '/data/q%3F/x' }), 'no-grant');
    denied(put('/data/%23x'), 'bad-copy-source');
    denied(put('/data/team/..%3Fx'), 'bad-copy-source');
  });
  void test('extra query parameters on the source', () => {
    denied(put('/data/team/x?versionId=1&partNumber=2'), 'bad-copy-source');
    denied(put('/data/team/x?versionId=1%26partNumber=2'), 'bad-copy-source');
    denied(put('/data/team/x?versionId=1%'), 'bad-copy-source');
  });
  void test('empty segments and a leading //', () => {
    denied(put('//data/team/x'), 'bad-copy-source');
    denied(put('/data/team//x'), 'bad-copy-source');
    denied(put('/data/'), 'bad-copy-source');
  });
  void test('raw non-ASCII bytes (checked as Latin-1, read by backends as UTF-8)', () => {
    const latin1 = (utf8: string): string => Buffer.from(utf8, 'utf8').toString('latin1');
    const widePrefix = createAuthorizer(
      policy([{ store: 's1', bucket: 'data', prefixes: ['\u00c3'], access: ['read', 'write'], source: 'a' }]),
    );
    // Bytes C3 A9: "\u00c3\u00a9x" as Latin-1, inside the grant; "\u00e9x" to a backend.
    denied(
      run(widePrefix, 'PUT', '/data/%C3%83dst', { 'x-amz-copy-source': latin1('/data/\u00e9x') }),
      'bad-copy-source',
    );
    denied(put(latin1('/data/team/\u00e9t\u00e9.txt')), 'bad-copy-source');
    assert.ok(put('/data/team/%C3%A9t%C3%A9.txt').allow, 'the same key URL-encoded');
  });
  void test('source on another store', () => denied(put('/elsewhere/x'), 'cross-store-copy'));
  void test('a presigned URL cannot smuggle the copy source in the query', () => {
    const d = run(authz, 'PUT', '/data/team/dst?x-amz-copy-source=%2Fdata%2Fsecret%2Fx&X-Amz-Signature=abc');
    assert.equal(d.operation, 'CopyObject');
    denied(d, 'no-grant');
  });
  void test('header and query disagreeing on the copy source', () =>
    denied(
      run(authz, 'PUT', '/data/team/dst?x-amz-copy-source=%2Fdata%2Fteam%2Fa', {
        'x-amz-copy-source': '/data/team/b',
      }),
      'ambiguous-request',
    ));
});

void describe('DeleteObjects', () => {
  void test('allowed: every key inside the grant', () => {
    const d = deleteObjects(keysBody(['team/a', 'team/b &amp; c', 'team/&#x3C;d&#62;']));
    assert.ok(d.allow);
  });
  void test('one key outside the grant denies the whole request', () =>
    denied(deleteObjects(keysBody(['team/a', 'team/b', 'secret/c'])), 'no-grant'));
  void test('an escaped key that decodes outside the grant', () =>
    denied(deleteObjects(keysBody(['&#116;eam2/x'])), 'no-grant'));
  void test('dot segments in a key', () =>
    denied(deleteObjects(keysBody(['team/../secret'])), 'malformed-delete'));
  void test('more than 1000 keys', () =>
    denied(deleteObjects(keysBody(Array.from({ length: 1001 }, (_, i) => `team/${i}`))), 'delete-too-large'));
  void test('a declared Content-Length over the bound is refused before reading', () =>
    denied(
      run(authz, 'POST', '/data?delete', { 'content-length': String(2 * 1024 * 1024) }),
      'delete-too-large',
    ));
  void test('an aws-chunked body is bounded by its declared payload length, not its framing', () => {
    const big = 2 * 1024 * 1024;
    const streaming = { 'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' };
    denied(
      run(authz, 'POST', '/data?delete', {
        ...streaming,
        'content-length': String(1024),
        'x-amz-decoded-content-length': String(big),
      }),
      'delete-too-large',
    );
    // Framing over the bound around a payload under it is fine.
    const d = run(authz, 'POST', '/data?delete', {
      ...streaming,
      'content-length': String(big),
      'x-amz-decoded-content-length': String(1024),
    });
    assert.ok(d.allow && d.bodyCheck);
    // A plain body cannot hide its Content-Length behind a decoded length.
    denied(
      run(authz, 'POST', '/data?delete', {
        'content-length': String(big),
        'x-amz-decoded-content-length': '0',
      }),
      'delete-too-large',
    );
  });
  void test('no delete grant on the bucket: refused before reading the body', () =>
    denied(run(authz, 'POST', '/public?delete'), 'no-grant'));
  void test('a DOCTYPE with entities is refused', () => {
    const body = Buffer.from(
      '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "secret/y">]><Delete><Object><Key>&x;</Key></Object></Delete>',
    );
    denied(deleteObjects(body), 'malformed-delete');
  });
});

void describe('list prefixes', () => {
  void test('no prefix when only prefixes are granted', () =>
    denied(run(authz, 'GET', '/data?list-type=2'), 'list-prefix'));
  void test('a prefix shorter than the grant', () =>
    denied(run(authz, 'GET', '/data?list-type=2&prefix=te'), 'list-prefix'));
  void test('a prefix beside the grant', () =>
    denied(run(authz, 'GET', '/data?prefix=team2/'), 'list-prefix'));
  void test('versions and uploads lists too', () => {
    denied(run(authz, 'GET', '/data?versions&prefix=secret/'), 'list-prefix');
    denied(run(authz, 'GET', '/data?uploads'), 'list-prefix');
  });
  void test('a dot-segment prefix a backend could clean', () =>
    denied(run(authz, 'GET', '/data?list-type=2&prefix=team/../secret/'), 'list-prefix'));
  void test('a whole-bucket list grant lists any prefix, dot segments too (nothing to leave)', () => {
    const whole = createAuthorizer(
      policy([{ store: 's1', bucket: 'data', access: ['list'], source: 'all' }]),
    );
    assert.ok(run(whole, 'GET', '/data?list-type=2&prefix=dir%2F.&delimiter=%2F').allow);
    assert.ok(run(whole, 'GET', '/data?list-type=2&prefix=a/../b/').allow);
  });
  void test('the prefix given twice', () =>
    denied(run(authz, 'GET', '/data?list-type=2&prefix=team/&prefix=secret/'), 'ambiguous-request'));
  void test('a differently-cased Prefix parameter is not silently ignored', () =>
    denied(run(authz, 'GET', '/data?list-type=2&prefix=team/&Prefix=secret/'), 'unknown-operation'));
  void test('within the grant is allowed', () =>
    assert.ok(run(authz, 'GET', '/data?list-type=2&prefix=team/x').allow));
});

void describe('ListBuckets', () => {
  void test('allowed and filtered to the granted buckets of the first grant store', () => {
    const d = run(authz, 'GET', '/');
    assert.ok(d.allow);
    assert.equal(d.store, 's1');
    assert.deepEqual([...(d.listBuckets ?? [])].sort(), ['data', 'public']);
  });
  void test('denied with no grants', () => denied(run(createAuthorizer(policy([])), 'GET', '/'), 'no-grant'));
});

void describe('multipart uses the upload key', () => {
  void test('parts of an upload outside the grant', () => {
    denied(run(authz, 'PUT', '/data/secret/k?partNumber=1&uploadId=abc'), 'no-grant');
    denied(run(authz, 'POST', '/data/secret/k?uploadId=abc'), 'no-grant');
    denied(run(authz, 'POST', '/data/secret/k?uploads'), 'no-grant');
    denied(run(authz, 'GET', '/data/secret/k?uploadId=abc'), 'no-grant');
  });
});

void describe('presigned and anonymous requests get the same checks', () => {
  const presign =
    'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=00';
  void test('presigned GET inside / outside the grant', () => {
    assert.ok(run(authz, 'GET', `/data/team/a?${presign}`).allow);
    denied(run(authz, 'GET', `/data/secret/a?${presign}`), 'no-grant');
  });
  void test('presigned PUT outside the grant', () =>
    denied(run(authz, 'PUT', `/data/secret/a?${presign}`), 'no-grant'));
  void test('SigV2 presigned', () =>
    denied(run(authz, 'GET', '/data/secret/a?AWSAccessKeyId=x&Expires=1&Signature=y'), 'no-grant'));
  void test('anonymous (no Authorization) is decided the same as signed', () => {
    const a = run(authz, 'DELETE', '/data/secret/a');
    const b = run(authz, 'DELETE', '/data/secret/a', { authorization: 'AWS4-HMAC-SHA256 Credential=x/y' });
    denied(a, 'no-grant');
    denied(b, 'no-grant');
  });
  void test('a presigned hoisted ACL header still needs config-write', () =>
    denied(run(authz, 'PUT', `/data/team/a?x-amz-acl=public-read&${presign}`), 'no-grant'));
});

void describe('path tricks', () => {
  const get = (target: string, headers: Record<string, string> = {}) => run(authz, 'GET', target, headers);
  void test('// at the start (read as a host by URL parsers)', () =>
    denied(get('//data/secret/x'), 'bad-target'));
  void test('// inside the key', () => denied(get('/data/team//../secret/x'), 'bad-target'));
  void test('%2F in the bucket segment', () => denied(get('/data%2Fteam/x'), 'bad-target'));
  void test('%2e%2e segments', () => {
    denied(get('/data/team/%2e%2e/secret/x'), 'bad-target');
    denied(get('/data/team/%2E%2e/secret/x'), 'bad-target');
    denied(get('/data/team/..%2Fsecret'), 'bad-target');
  });
  void test('plain dot segments', () => {
    denied(get('/data/team/../secret/x'), 'bad-target');
    denied(get('/data/team/./x'), 'bad-target');
    denied(get('/data/./team/x'), 'bad-target');
  });
  void test('mixed and malformed percent-encoding', () => {
    denied(get('/data/team/%zz'), 'bad-target');
    denied(get('/data/team/%C0%AE%C0%AE/x'), 'bad-target'); // overlong UTF-8 for "."
    denied(get('/data/team/a?prefix=%'), 'bad-target');
  });
  void test('double encoding stays literal (authorized key = forwarded key)', () => {
    const t = canonicalTarget('/data/team/%252e%252e/x', '127.0.0.1');
    assert.ok(t.ok);
    assert.equal(t.key, 'team/%2e%2e/x');
    assert.equal(encodeObjectPath(t.bucket, t.key), '/data/team/%252e%252e/x');
  });
  void test('backslashes (WHATWG URL turns them into /)', () =>
    denied(get('/data/team/..\\secret'), 'bad-target'));
  void test('absolute-form request target', () => {
    denied(get('http://evil.example/data/team/x'), 'bad-target');
    denied(get('http://127.0.0.1:7480/data/secret/x'), 'bad-target');
  });
  void test('a Host naming another bucket (virtual-host) wins over the path, and is checked', () => {
    const d = get('/data/team/x', { host: `secret.${VHOST}:7480` });
    denied(d, 'no-grant');
    const ok = get('/team/x', { host: `data.${VHOST}` });
    assert.ok(ok.allow);
  });
  void test('a fully qualified Host (trailing dot) is the same virtual host, checked the same', () => {
    denied(get('/team/x', { host: `secret.${VHOST}.:7480` }), 'no-grant');
    assert.ok(get('/team/x', { host: `data.${VHOST}.` }).allow);
    denied(get('/x', { host: `data.${VHOST}.` }), 'no-grant');
  });
  void test('a Host naming another host reaches nothing else (path-style, same checks)', () => {
    denied(get('/data/secret/x', { host: 'evil.example' }), 'no-grant');
    assert.ok(get('/data/team/x', { host: 'evil.example' }).allow);
  });
  void test('allowedHosts refuses unknown Hosts outright', () => {
    const r = canonicalTarget('/data/team/x', 'evil.example', { allowedHosts: ['127.0.0.1'] });
    assert.equal(r.ok, false);
  });
  void test('a malformed Host header', () => denied(get('/data/team/x', { host: 'a/b@c' }), 'bad-target'));
  void test('; in the query (split by some parsers)', () =>
    denied(get('/data?list-type=2&prefix=team/;prefix=x'), 'bad-target'));
  void test('reserved backend bucket', () => denied(get('/minio/admin/v3/info'), 'reserved-bucket'));
  void test('the request parser and the policy parser must agree', () => {
    const d = createAuthorizer(policy([{ store: 's1', bucket: 'data', access: ['read'] }])).authorize({
      method: 'GET',
      bucket: 'data',
      key: 'public',
      query: new URLSearchParams(),
      headers: { host: '127.0.0.1' },
      rawTarget: '/data/secret',
    });
    denied(d, 'bad-target');
  });
});

void describe('invariant: the (bucket, key) authorized is the (bucket, key) forwarded', () => {
  const targets = [
    '/data/team/a.txt',
    '/data/team/sp%20ace/%E2%9C%93/x',
    '/data/team/a%2Bb+c',
    '/data/team/%252F',
    '/data/team/dir/',
    "/data/team/!'()*~",
    '/data/team/%25',
    '/data',
    '/',
  ];
  for (const target of targets) {
    void test(target, () => {
      const a = canonicalTarget(target, '127.0.0.1');
      assert.ok(a.ok);
      const forwarded = encodeObjectPath(a.bucket, a.key);
      const b = canonicalTarget(forwarded, '127.0.0.1');
      assert.ok(b.ok);
      assert.equal(b.bucket, a.bucket);
      assert.equal(b.key, a.key);
      // And the request path's own parser reads the same object.
      const p = parseTarget(target, '127.0.0.1', []);
      assert.equal(p.bucket, a.bucket);
      assert.equal(p.key, a.key);
      assert.deepEqual([...p.query], [...a.query]);
    });
  }
});

void describe('store extension headers (MinIO acts on them beyond what the policy sees)', () => {
  const admin = createAuthorizer(
    policy([
      {
        store: 's1',
        bucket: 'data',
        prefixes: ['team/'],
        access: ['read', 'write', 'list', 'delete'],
        bucketConfig: ['delete-bucket'],
        source: 'team',
      },
      { store: 's1', bucket: 'listonly', access: ['list'], source: 'listonly' },
      { store: 's1', bucket: 'both', access: ['list', 'read'], source: 'both' },
    ]),
    { virtualHostDomains: [VHOST] },
  );
  void test('x-minio-force-delete: a bucket delete that would take its objects with it', () =>
    denied(run(admin, 'DELETE', '/data', { 'x-minio-force-delete': 'true' }), 'store-extension'));
  void test('x-amz-meta-snowball-auto-extract: MinIO unpacks the tar to the keys it names, outside the prefix', () => {
    denied(
      run(admin, 'PUT', '/data/team/x.tar', { 'x-amz-meta-snowball-auto-extract': 'true' }),
      'store-extension',
    );
    // The prefix MinIO unpacks under, alone, is refused too (and any x-amz-meta-minio-*).
    denied(
      run(admin, 'PUT', '/data/team/x.tar', { 'x-amz-meta-minio-snowball-prefix': 'elsewhere' }),
      'store-extension',
    );
  });
  void test('MinIO instructions as x-amz-* query parameters (stores read them as headers)', () => {
    denied(
      run(admin, 'PUT', '/data/team/x.tar?X-Amz-Meta-Snowball-Auto-Extract=true', {}),
      'store-extension',
    );
    denied(run(admin, 'PUT', '/data/team/x.tar?x-amz-snowball-extract=true', {}), 'store-extension');
  });
  void test('x-minio-extract: a read inside an archive', () =>
    denied(run(admin, 'GET', '/data/team/a.zip/inner', { 'x-minio-extract': 'true' }), 'store-extension'));
  void test('x-amz-replication-status on a DELETE (MinIO skips object-lock checks for a replica)', () => {
    const d = run(admin, 'DELETE', '/data/team/locked?versionId=v1', {
      'x-amz-replication-status': 'REPLICA',
    });
    denied(d, 'unsupported-header');
    assert.equal(d.allow ? 0 : d.status, 501);
    assert.equal(d.allow ? '' : d.s3Code, 'NotImplemented');
  });
  void test('an x-amz-* header the S3 API does not define is refused, as a header or a parameter', () => {
    denied(run(admin, 'GET', '/data/team/x', { 'x-amz-made-up': '1' }), 'unsupported-header');
    denied(run(admin, 'GET', '/data/team/x?x-amz-made-up=1', {}), 'unsupported-header');
  });
  void test('a multipart/form-data POST is refused: MinIO reads it as a form upload, whatever the query', () => {
    const body = { 'content-type': 'multipart/form-data; boundary=XyZ' };
    denied(run(admin, 'POST', '/data?delete', body), 'unknown-operation');
    denied(
      run(admin, 'POST', '/data', { 'content-type': ' Multipart/Form-Data; boundary=a' }),
      'unknown-operation',
    );
    // A UTF-8 no-break space as Node reads it (Latin-1): Go's mime.ParseMediaType trims it.
    denied(
      run(admin, 'POST', '/data?delete', { 'content-type': '\u00c2\u00a0multipart/form-data; boundary=X' }),
      'unknown-operation',
    );
    denied(
      run(admin, 'POST', '/data?delete', { 'content-type': 'text/x;a=multipart/form-data' }),
      'unknown-operation',
    );
  });
  void test('without them the same requests are allowed; S3 request headers and user metadata pass', () => {
    assert.ok(run(admin, 'DELETE', '/data', {}).allow);
    assert.ok(run(admin, 'DELETE', '/data/team/locked?versionId=v1', {}).allow);
    assert.ok(run(admin, 'POST', '/data?delete', { 'content-type': 'application/xml' }).allow);
    const put = run(admin, 'PUT', '/data/team/x.tar', {
      'x-amz-meta-mtime': '1700000000',
      'x-amz-meta-snowball': 'a name that only starts like it',
      'x-amz-server-side-encryption': 'AES256',
      'x-amz-storage-class': 'STANDARD',
      'x-amz-checksum-crc32': 'AAAAAA==',
      'x-amz-sdk-checksum-algorithm': 'CRC32',
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      'x-amz-date': '20261207T000000Z',
      'x-amz-tagging': 'a=b',
      // The S3 Encryption Client's envelope, and checksums of algorithms added after this list.
      'x-amz-meta-x-amz-key-v2': 'AAAA',
      'x-amz-meta-x-amz-iv': 'AAAA',
      'x-amz-checksum-sha512': 'AAAA',
      'x-amz-checksum-xxhash64': 'AAAA',
    });
    assert.ok(put.allow, JSON.stringify(put));
    // The Java SDK v2 sends x-amz-te on every GetObject.
    const get = run(admin, 'GET', '/data/team/x.tar', { 'x-amz-te': 'append-md5' });
    assert.ok(get.allow, JSON.stringify(get));
  });
  void test("ListObjectsV2 with metadata (each object's user metadata) needs read as well as list", () => {
    denied(run(admin, 'GET', '/listonly?list-type=2&metadata=true', {}), 'no-grant');
    assert.ok(run(admin, 'GET', '/listonly?list-type=2', {}).allow);
    assert.ok(run(admin, 'GET', '/both?list-type=2&metadata=true', {}).allow);
    denied(run(admin, 'GET', '/data?list-type=2&metadata=true&prefix=other/', {}), 'list-prefix');
    assert.ok(run(admin, 'GET', '/data?list-type=2&metadata=true&prefix=team/', {}).allow);
    // The same for versions (minio-go WithVersions + WithMetadata), and MinIO's unsorted listing.
    denied(run(admin, 'GET', '/listonly?versions&metadata=true', {}), 'no-grant');
    assert.ok(run(admin, 'GET', '/both?versions&prefix=&metadata=true&encoding-type=url', {}).allow);
    assert.ok(run(admin, 'GET', '/listonly?list-type=2&unsorted=true&encoding-type=url', {}).allow);
  });
});

/**
 * A store addressed virtually gets the key as its whole path: a key under `minio/` would reach
 * MinIO's admin API (routed by path whatever the Host), signed with the store's credentials.
 */
void describe('virtually addressed stores: keys where a backend routes its own API', () => {
  const doc = (provider: 'minio' | 'aws' | 'ceph' | undefined): ReturnType<typeof policy> => {
    const base = policy([{ store: 's1', bucket: 'data', access: ['read', 'write'], source: 'whole' }]);
    return {
      ...base,
      stores: base.stores.map((s) =>
        s.name === 's1' ? { ...s, addressing: 'virtual' as const, provider } : s,
      ),
    };
  };
  const minio = createAuthorizer(doc('minio'), { virtualHostDomains: [VHOST] });
  const aws = createAuthorizer(doc('aws'), { virtualHostDomains: [VHOST] });
  const unknown = createAuthorizer(doc(undefined), { virtualHostDomains: [VHOST] });
  const pathStyle = createAuthorizer(
    policy([{ store: 's1', bucket: 'data', access: ['read', 'write'], source: 'whole' }]),
    { virtualHostDomains: [VHOST] },
  );
  void test("MinIO's admin API through a key", () => {
    denied(run(minio, 'GET', '/data/minio/admin/v3/accountinfo'), 'reserved-path');
    denied(run(minio, 'PUT', '/data/minio/admin/v3/import-iam'), 'reserved-path');
    denied(run(minio, 'GET', '/data/MinIO/health/live'), 'reserved-path');
    denied(run(aws, 'GET', '/data/minio/admin/v3/info'), 'reserved-path');
  });
  void test("Ceph RGW's admin API through a key, where the store is of unknown kind", () => {
    denied(run(unknown, 'GET', '/data/admin/user?uid=x'), undefined);
    denied(run(unknown, 'GET', '/data/admin/log'), 'reserved-path');
    denied(run(unknown, 'GET', '/data/swift/v1'), 'reserved-path');
  });
  void test('the same keys stay ordinary keys where they cannot reach an API', () => {
    const allowed = (d: Decision): void => assert.equal(d.allow, true, d.allow ? '' : d.message);
    allowed(run(aws, 'GET', '/data/admin/report.csv'));
    allowed(run(minio, 'GET', '/data/admin/report.csv'));
    allowed(run(minio, 'GET', '/data/minio-backup/x'));
    // Path-style: the backend sees /data/minio/…, an object of bucket data.
    allowed(run(pathStyle, 'GET', '/data/minio/admin/v3/info'));
  });
});

/**
 * Path-style, the bucket is the first path segment: Ceph RGW routes `/admin/…` (users, keys,
 * usage), `/swift/…` and `/auth/…` to its own APIs, so a grant on a bucket of that name would
 * reach them signed with the store's credentials. The policy cannot name them there.
 */
void describe('path-style stores: bucket names a backend routes to its own API', () => {
  const onStore = (bucket: string, provider: 'minio' | 'ceph' | undefined): PodPolicyDocument => {
    const base = policy([{ store: 's1', bucket, access: ['read'], source: 'ba' }]);
    return { ...base, stores: base.stores.map((s) => (s.name === 's1' ? { ...s, provider } : s)) };
  };
  void test('Ceph and unknown stores refuse grants on admin, swift and auth', () => {
    for (const bucket of ['admin', 'swift', 'auth']) {
      for (const provider of ['ceph', undefined] as const) {
        assert.throws(() => createAuthorizer(onStore(bucket, provider)), /grants\[0\]\.bucket: .*reserved/);
      }
    }
  });
  void test('MinIO stores keep them as ordinary buckets; minio is refused everywhere', () => {
    assert.equal(run(createAuthorizer(onStore('admin', 'minio')), 'GET', '/admin/metadata/user').allow, true);
    assert.throws(() => createAuthorizer(onStore('minio', 'minio')), /reserved/);
  });
});

/**
 * RestoreObject of type SELECT runs a query on the object and writes the results to the bucket
 * and prefix its body names (OutputLocation): a write the grant on the request's key never
 * checked. Only plain restores are forwarded.
 */
void describe('RestoreObject', () => {
  const restore = (body: string): Decision => {
    const d = run(authz, 'POST', '/data/team/archived.csv?restore', {
      'content-length': String(body.length),
    });
    assert.ok(d.allow && d.bodyCheck, d.allow ? 'no body check' : d.message);
    return d.bodyCheck.check(Buffer.from(body));
  };
  const plain =
    '<RestoreRequest><Days>2</Days><GlacierJobParameters><Tier>Bulk</Tier></GlacierJobParameters></RestoreRequest>';
  const select =
    '<RestoreRequest><Type>SELECT</Type><Tier>Standard</Tier><SelectParameters><Expression>select * from S3Object</Expression>' +
    '<ExpressionType>SQL</ExpressionType></SelectParameters><OutputLocation><S3><BucketName>other</BucketName>' +
    '<Prefix>x/</Prefix></S3></OutputLocation></RestoreRequest>';
  void test('a plain restore is allowed, as is an empty body', () => {
    assert.equal(restore(plain).allow, true);
    assert.equal(restore('').allow, true);
  });
  void test('a SELECT restore writing to another bucket', () => denied(restore(select), 'restore-select'));
  void test('the same with namespace prefixes, or only the output location', () => {
    denied(restore(select.replace(/<(\/?)([A-Z])/g, '<$1s3:$2')), 'restore-select');
    denied(
      restore(
        '<RestoreRequest><Days>1</Days><OutputLocation><S3><BucketName>o</BucketName></S3></OutputLocation></RestoreRequest>',
      ),
      'restore-select',
    );
  });
  void test('a body that is not a RestoreRequest', () =>
    denied(restore('\x1f\x8b\x08gzip'), 'restore-select'));
  void test('a declared length over the bound is refused before a byte is read', () =>
    denied(
      run(authz, 'POST', '/data/team/x?restore', { 'content-length': String(1 << 20) }),
      'restore-select',
    ));
  void test('write on the key is still needed', () =>
    denied(run(authz, 'POST', '/public/x?restore', { 'content-length': '0' }), 'no-grant'));
});

void test('a virtually addressed store without provider whose endpoints are all AWS keeps admin/ keys', () => {
  const base = policy([{ store: 's1', bucket: 'data', access: ['read'], source: 'whole' }]);
  const doc = {
    ...base,
    stores: base.stores.map((s) =>
      s.name === 's1'
        ? { ...s, addressing: 'virtual' as const, endpoints: [{ url: 'https://s3.eu-west-1.amazonaws.com' }] }
        : s,
    ),
  };
  const aws = createAuthorizer(doc, { virtualHostDomains: [VHOST] });
  assert.equal(run(aws, 'GET', '/data/admin/report.csv').allow, true);
  denied(run(aws, 'GET', '/data/minio/admin/v3/info'), 'reserved-path');
});
