import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSessionPolicy, stableHash } from '../../../operator/controller/sts-policy.ts';
import { parseAssumeRoleResponse } from '../../../operator/controller/sts-client.ts';
import {
  parseStsState,
  renewAt,
  serializeStsState,
  stillValid,
  stsDecision,
  type StsEntry,
} from '../../../operator/controller/sts-state.ts';
import { ControllerError } from '../../../operator/controller/errors.ts';

void describe('session policy', () => {
  void test('only the given store, object actions on bucket/prefix*, list with an s3:prefix condition', () => {
    const p = buildSessionPolicy('s', [
      { store: 's', bucket: 'data', prefixes: ['in/', 'tmp/'], access: ['read', 'list'] },
      { store: 'other', bucket: 'nope', access: ['write'] },
    ]);
    assert.deepEqual(p, {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: ['s3:GetBucketLocation'], Resource: ['arn:aws:s3:::data'] },
        {
          Effect: 'Allow',
          Action: ['s3:GetObject'],
          Resource: ['arn:aws:s3:::data/in/*', 'arn:aws:s3:::data/tmp/*'],
        },
        {
          Effect: 'Allow',
          Action: ['s3:ListBucket'],
          Resource: ['arn:aws:s3:::data'],
          Condition: { StringLike: { 's3:prefix': ['in/*', 'tmp/*'] } },
        },
        { Effect: 'Allow', Action: ['s3:ListBucketMultipartUploads'], Resource: ['arn:aws:s3:::data'] },
      ],
    });
    assert.ok(!JSON.stringify(p).includes('nope'));
  });
  void test('whole bucket, write/delete and bucket-config rights map to their actions; no grants → no statements', () => {
    const p = buildSessionPolicy('s', [
      { store: 's', bucket: 'b', access: ['write', 'delete', 'list'], bucketConfig: ['create-bucket'] },
    ]);
    const actions = p.Statement.flatMap((s) => s.Action);
    for (const a of [
      's3:PutObject',
      's3:AbortMultipartUpload',
      's3:DeleteObject',
      's3:ListBucket',
      's3:CreateBucket',
    ])
      assert.ok(actions.includes(a), a);
    assert.ok(!actions.includes('s3:GetObject'), 'write does not imply read');
    const list = p.Statement.find((s) => s.Action.includes('s3:ListBucket'));
    assert.equal(list?.Condition, undefined, 'whole-bucket list has no prefix condition');
    assert.ok(
      p.Statement.find((s) => s.Action.includes('s3:PutObject'))?.Resource.includes('arn:aws:s3:::b/*'),
    );
    assert.deepEqual(buildSessionPolicy('s', []).Statement, []);
  });
  void test('a prefix with ${ (an IAM policy variable at the store) gets nothing, not an expanded grant', () => {
    const p = buildSessionPolicy('s', [
      { store: 's', bucket: 'data', prefixes: ['${aws:username}/'], access: ['read', 'list'] },
    ]);
    assert.deepEqual(p.Statement, []);
  });
  void test('deterministic: the same grants in another order give the same JSON and hash', () => {
    const g1 = { store: 's', bucket: 'a1', access: ['read' as const] };
    const g2 = { store: 's', bucket: 'a2', access: ['read' as const] };
    assert.equal(
      JSON.stringify(buildSessionPolicy('s', [g1, g2])),
      JSON.stringify(buildSessionPolicy('s', [g2, g1])),
    );
    assert.equal(
      stableHash(buildSessionPolicy('s', [g1, g2])),
      stableHash(buildSessionPolicy('s', [g2, g1])),
    );
  });
});

void describe('AssumeRole XML', () => {
  void test('credentials parsed, entities decoded', () => {
    const xml = `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>
      <AccessKeyId>AK</AccessKeyId><SecretAccessKey>s&amp;k</SecretAccessKey><SessionToken>tok</SessionToken>
      <Expiration>2030-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>`;
    assert.deepEqual(parseAssumeRoleResponse(200, xml), {
      accessKeyId: 'AK',
      secretAccessKey: 's&k',
      sessionToken: 'tok',
      expiresAt: Date.parse('2030-01-01T00:00:00Z'),
    });
  });
  void test('ErrorResponse → StsFailed with the STS code; 5xx retryable, 4xx not; incomplete answers rejected', () => {
    const err = `<ErrorResponse><Error><Code>AccessDenied</Code><Message>no &lt;way&gt;</Message></Error></ErrorResponse>`;
    assert.throws(
      () => parseAssumeRoleResponse(403, err),
      (e: unknown) =>
        e instanceof ControllerError &&
        e.code === 'StsFailed' &&
        !e.retryable &&
        /AccessDenied: no <way>/.test(e.message),
    );
    assert.throws(
      () => parseAssumeRoleResponse(503, err),
      (e: unknown) => e instanceof ControllerError && e.retryable,
    );
    assert.throws(() => parseAssumeRoleResponse(200, '<AssumeRoleResponse/>'), /lacks Credentials/);
  });
});

void describe('renewal', () => {
  const entry: StsEntry = {
    accessKeyId: 'AK',
    issuedAt: 0,
    expiresAt: 3_600_000,
    policyHash: 'p',
    sourceHash: 's',
  };
  const want = (now: number, over: Partial<{ policyHash: string; sourceHash: string }> = {}) => ({
    policyHash: 'p',
    sourceHash: 's',
    now,
    ...over,
  });
  void test('reused until 2/3 of the lifetime, renewed after', () => {
    assert.equal(renewAt(entry), 2_400_000);
    assert.equal(stsDecision(entry, want(2_399_999)), 'reuse');
    assert.equal(stsDecision(entry, want(2_400_000)), 'renew');
    assert.equal(stsDecision(undefined, want(0)), 'renew');
  });
  void test('a changed policy or rotated store keys force a renewal; old creds only cover a failed renewal of the same policy', () => {
    assert.equal(stsDecision(entry, want(1, { policyHash: 'q' })), 'renew');
    assert.equal(stsDecision(entry, want(1, { sourceHash: 't' })), 'renew');
    assert.equal(stillValid(entry, want(3_000_000)), true);
    assert.equal(stillValid(entry, want(3_550_000)), false, 'less than a minute left');
    assert.equal(stillValid(entry, want(1, { policyHash: 'q' })), false);
  });
  void test('state round-trips; garbage is no state', () => {
    const s = serializeStsState({ b: entry, a: entry });
    assert.ok(s.indexOf('"a"') < s.indexOf('"b"'));
    assert.deepEqual(parseStsState(s), { a: entry, b: entry });
    assert.deepEqual(parseStsState('not json'), {});
    assert.deepEqual(parseStsState('{"a":{"accessKeyId":1}}'), {});
  });
});
