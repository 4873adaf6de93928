/**
 * Every S3 operation × every grant shape: the operation the classifier names, and which shapes
 * allow it. A row lists the shapes that must allow; every other shape must deny.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OPERATIONS, classify } from '../../../proxy/policy/operations.ts';
import { createAuthorizer } from '../../../proxy/policy/index.ts';
import { SHAPES, policy, run, shape } from './helpers.ts';

const ALL = Object.keys(SHAPES);
const ON_DATA = ['whole', 'prefix', 'read', 'write', 'list', 'delete', 'config', 'admin'];
const READ = ['whole', 'prefix', 'read', 'admin'];
const WRITE = ['whole', 'prefix', 'write', 'admin'];
const DELETE = ['whole', 'prefix', 'delete', 'admin'];
const LIST = ['whole', 'prefix', 'list', 'admin'];
const CONFIG = ['config', 'admin'];
const src = { 'x-amz-copy-source': '/data/team/src.txt' };

interface Row {
  op: string;
  method: string;
  target: string;
  headers?: Record<string, string>;
  allow: string[];
}

const ROWS: Row[] = [
  { op: 'GetObject', method: 'GET', target: '/data/team/a.txt', allow: READ },
  { op: 'GetObject', method: 'GET', target: '/data/outside/a.txt', allow: ['whole', 'read', 'admin'] },
  {
    op: 'GetObject',
    method: 'GET',
    target: '/data/team/a.txt?versionId=3&response-content-type=x',
    allow: READ,
  },
  { op: 'GetObject', method: 'GET', target: '/data/team/a.txt?partNumber=2&x-id=GetObject', allow: READ },
  { op: 'HeadObject', method: 'HEAD', target: '/data/team/a.txt', allow: READ },
  { op: 'GetObjectAttributes', method: 'GET', target: '/data/team/a?attributes', allow: READ },
  { op: 'GetObjectTorrent', method: 'GET', target: '/data/team/a?torrent', allow: READ },
  { op: 'SelectObjectContent', method: 'POST', target: '/data/team/a?select&select-type=2', allow: READ },
  { op: 'PutObject', method: 'PUT', target: '/data/team/a.txt', allow: WRITE },
  { op: 'PutObject', method: 'PUT', target: '/data/outside/a.txt', allow: ['whole', 'write', 'admin'] },
  {
    op: 'PutObject',
    method: 'PUT',
    target: '/data/team/a.txt',
    headers: { 'x-amz-acl': 'public-read' },
    allow: ['admin'],
  },
  // Owner-only canned ACLs (rclone acl = private, aws s3 cp --acl bucket-owner-full-control).
  {
    op: 'PutObject',
    method: 'PUT',
    target: '/data/team/a.txt',
    headers: { 'x-amz-acl': 'private' },
    allow: WRITE,
  },
  {
    op: 'CreateMultipartUpload',
    method: 'POST',
    target: '/data/team/a.txt?uploads',
    headers: { 'x-amz-acl': 'bucket-owner-full-control' },
    allow: WRITE,
  },
  {
    op: 'PutObject',
    method: 'PUT',
    target: '/data/team/a.txt',
    headers: { 'x-amz-acl': 'authenticated-read' },
    allow: ['admin'],
  },
  {
    op: 'PutObject',
    method: 'PUT',
    target: '/data/team/a',
    headers: { 'x-amz-object-lock-mode': 'COMPLIANCE' },
    allow: ['admin'],
  },
  {
    op: 'CopyObject',
    method: 'PUT',
    target: '/data/team/dst.txt',
    headers: src,
    allow: ['whole', 'prefix', 'admin'],
  },
  { op: 'CreateMultipartUpload', method: 'POST', target: '/data/team/a?uploads', allow: WRITE },
  { op: 'UploadPart', method: 'PUT', target: '/data/team/a?partNumber=1&uploadId=u1', allow: WRITE },
  {
    op: 'UploadPartCopy',
    method: 'PUT',
    target: '/data/team/a?partNumber=1&uploadId=u1',
    headers: src,
    allow: ['whole', 'prefix', 'admin'],
  },
  { op: 'CompleteMultipartUpload', method: 'POST', target: '/data/team/a?uploadId=u1', allow: WRITE },
  { op: 'AbortMultipartUpload', method: 'DELETE', target: '/data/team/a?uploadId=u1', allow: WRITE },
  { op: 'ListParts', method: 'GET', target: '/data/team/a?uploadId=u1&max-parts=5', allow: WRITE },
  {
    op: 'ListParts',
    method: 'GET',
    target: '/data/outside/a?uploadId=u1',
    allow: ['whole', 'write', 'admin'],
  },
  { op: 'DeleteObject', method: 'DELETE', target: '/data/team/a.txt', allow: DELETE },
  { op: 'DeleteObject', method: 'DELETE', target: '/data/team/a?versionId=v', allow: DELETE },
  {
    op: 'DeleteObject',
    method: 'DELETE',
    target: '/data/team/a',
    headers: { 'x-amz-bypass-governance-retention': 'true' },
    allow: ['admin'],
  },
  { op: 'DeleteObjects', method: 'POST', target: '/data?delete', allow: DELETE },
  { op: 'GetObjectTagging', method: 'GET', target: '/data/team/a?tagging', allow: READ },
  { op: 'PutObjectTagging', method: 'PUT', target: '/data/team/a?tagging', allow: WRITE },
  { op: 'DeleteObjectTagging', method: 'DELETE', target: '/data/team/a?tagging', allow: WRITE },
  { op: 'GetObjectRetention', method: 'GET', target: '/data/team/a?retention', allow: READ },
  { op: 'PutObjectRetention', method: 'PUT', target: '/data/team/a?retention', allow: ['admin'] },
  { op: 'GetObjectLegalHold', method: 'GET', target: '/data/team/a?legal-hold', allow: READ },
  { op: 'PutObjectLegalHold', method: 'PUT', target: '/data/team/a?legal-hold', allow: ['admin'] },
  { op: 'GetObjectAcl', method: 'GET', target: '/data/team/a?acl', allow: ['admin'] },
  { op: 'PutObjectAcl', method: 'PUT', target: '/data/team/a?acl', allow: ['admin'] },
  { op: 'RestoreObject', method: 'POST', target: '/data/team/a?restore', allow: WRITE },
  { op: 'ListObjects', method: 'GET', target: '/data?prefix=team/', allow: LIST },
  { op: 'ListObjects', method: 'GET', target: '/data', allow: ['whole', 'list', 'admin'] },
  {
    op: 'ListObjectsV2',
    method: 'GET',
    target: '/data?list-type=2&prefix=team%2Fsub&delimiter=%2F',
    allow: LIST,
  },
  { op: 'ListObjectsV2', method: 'GET', target: '/data?list-type=2', allow: ['whole', 'list', 'admin'] },
  {
    op: 'ListObjectsV2',
    method: 'GET',
    target: '/data?list-type=2&prefix=te',
    allow: ['whole', 'list', 'admin'],
  },
  { op: 'ListObjectVersions', method: 'GET', target: '/data?versions&prefix=team/', allow: LIST },
  { op: 'ListMultipartUploads', method: 'GET', target: '/data?uploads&prefix=team/', allow: LIST },
  { op: 'ListMultipartUploads', method: 'GET', target: '/data?uploads', allow: ['whole', 'list', 'admin'] },
  { op: 'HeadBucket', method: 'HEAD', target: '/data', allow: ON_DATA },
  { op: 'GetBucketLocation', method: 'GET', target: '/data?location', allow: ON_DATA },
  { op: 'CreateBucket', method: 'PUT', target: '/data', allow: CONFIG },
  { op: 'DeleteBucket', method: 'DELETE', target: '/data', allow: CONFIG },
  { op: 'GetBucketVersioning', method: 'GET', target: '/data?versioning', allow: CONFIG },
  { op: 'PutBucketVersioning', method: 'PUT', target: '/data?versioning', allow: CONFIG },
  { op: 'GetBucketTagging', method: 'GET', target: '/data?tagging', allow: CONFIG },
  { op: 'PutBucketTagging', method: 'PUT', target: '/data?tagging', allow: CONFIG },
  { op: 'ListBuckets', method: 'GET', target: '/', allow: ALL.filter((s) => s !== 'empty') },
  {
    op: 'ListBuckets',
    method: 'GET',
    target: '/?x-id=ListBuckets&max-buckets=10',
    allow: ALL.filter((s) => s !== 'empty'),
  },
];

// Every bucket-configuration sub-resource, in all three methods.
for (const rule of OPERATIONS) {
  if (!/^(Get|Put|Delete)Bucket/.test(rule.operation) || rule.operation === 'GetBucketLocation') continue;
  const sub = Object.keys(rule.requires ?? {})[0];
  if (!sub) continue;
  ROWS.push({ op: rule.operation, method: rule.method, target: `/data?${sub}`, allow: CONFIG });
}

const UNKNOWN: { method: string; target: string; headers?: Record<string, string> }[] = [
  { method: 'GET', target: '/data/team/a?foo' },
  { method: 'GET', target: '/data/team/a?ACL' },
  { method: 'PUT', target: '/data/team/a?torrent' },
  { method: 'POST', target: '/data/team/a' },
  { method: 'POST', target: '/data' },
  { method: 'PATCH', target: '/data/team/a' },
  { method: 'OPTIONS', target: '/data/team/a' },
  { method: 'GET', target: '/data?list-type=1' },
  { method: 'GET', target: '/data?list-type=2&Prefix=x' },
  { method: 'PUT', target: '/' },
  { method: 'DELETE', target: '/data/team/a?partNumber=1' },
  { method: 'POST', target: '/data/team/a?select' },
  { method: 'GET', target: '/data/team/a', headers: { 'x-amz-copy-source': 'data/team/b' } },
];

void describe('operation × grant shape', () => {
  for (const row of ROWS) {
    void test(`${row.op}: ${row.method} ${row.target}${row.headers ? ' ' + JSON.stringify(row.headers) : ''}`, () => {
      for (const name of ALL) {
        const d = run(shape(name), row.method, row.target, row.headers);
        assert.equal(d.operation, row.op, `operation for shape ${name}`);
        const expect = row.allow.includes(name);
        assert.equal(
          d.allow,
          expect,
          `shape ${name}: ${d.allow ? 'allowed' : `denied (${d.reason}: ${d.message})`}`,
        );
        if (!d.allow)
          assert.equal(d.status, d.reason === 'no-grant' || d.reason === 'list-prefix' ? 403 : d.status);
      }
    });
  }
  void test('every operation in the table is exercised by a row', () => {
    const covered = new Set(ROWS.map((r) => r.op));
    const missing = [...new Set(OPERATIONS.map((r) => r.operation))].filter((op) => !covered.has(op));
    assert.deepEqual(missing, []);
  });
});

void describe('unrecognised requests are denied for every shape', () => {
  for (const u of UNKNOWN) {
    void test(`${u.method} ${u.target}`, () => {
      for (const name of ALL) {
        const d = run(shape(name), u.method, u.target, u.headers);
        assert.equal(d.allow, false, `shape ${name}`);
        if (!d.allow) assert.ok(['unknown-operation', 'ambiguous-request'].includes(d.reason), d.reason);
      }
    });
  }
});

void describe('decisions name what matched', () => {
  void test('allow carries the grant source and the store', () => {
    const d = run(shape('prefix'), 'GET', '/data/team/a');
    assert.ok(d.allow);
    assert.equal(d.store, 's1');
    assert.deepEqual(d.matched, ['prefix']);
    assert.equal(d.grant?.source, 'prefix');
  });
  void test('a grant without source is labelled by its index', () => {
    const authz = createAuthorizer(policy([{ store: 's1', bucket: 'data', access: ['read'] }]));
    const d = run(authz, 'GET', '/data/x');
    assert.ok(d.allow);
    assert.deepEqual(d.matched, ['grants[0]']);
  });
  void test('a denial carries the S3 error to answer with', () => {
    const d = run(shape('empty'), 'GET', '/data/team/a');
    assert.equal(d.allow, false);
    if (!d.allow) {
      assert.equal(d.reason, 'no-grant');
      assert.equal(d.s3Code, 'AccessDenied');
      assert.equal(d.status, 403);
    }
  });
});

void describe('effective headers (x-amz-* query parameters count as headers)', () => {
  const input = (query: string, headers: Record<string, string | string[]>) => ({
    method: 'PUT',
    bucket: 'data',
    key: 'team/a.txt',
    query: new URLSearchParams(query),
    headers,
  });

  void test('without a parameter to hoist, they are the request headers', () => {
    const c = classify(input('', { 'x-amz-acl': 'private', 'content-length': '3' }));
    assert.ok(c.ok);
    assert.equal(c.headers['x-amz-acl'], 'private');
    assert.equal(c.headers['x-amz-copy-source'], undefined);
  });

  void test('a hoisted x-amz-* parameter joins them; the client signature parameters do not', () => {
    const c = classify(input('x-amz-acl=public-read&X-Amz-Signature=00', { 'content-length': '3' }));
    assert.ok(c.ok);
    assert.equal(c.headers['x-amz-acl'], 'public-read');
    assert.equal(c.headers['x-amz-signature'], undefined);
  });

  void test('one given both ways with different values is ambiguous', () => {
    const c = classify(input('x-amz-acl=public-read', { 'x-amz-acl': 'private' }));
    assert.equal(c.ok, false);
    assert.ok(!c.ok && c.reason === 'ambiguous-request', JSON.stringify(c));
    assert.match(!c.ok ? c.message : '', /x-amz-acl differs between header and query/);
  });

  void test('an x-amz-* header given twice is ambiguous; another header given twice is joined', () => {
    const twice = classify(input('', { 'x-amz-acl': ['private', 'public-read'] }));
    assert.ok(!twice.ok && twice.reason === 'ambiguous-request', JSON.stringify(twice));
    const joined = classify(input('', { 'cache-control': ['no-cache', 'no-store'] }));
    assert.ok(joined.ok);
    assert.equal(joined.headers['cache-control'], 'no-cache, no-store');
  });
});
