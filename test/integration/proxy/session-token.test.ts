/**
 * Temporary (STS) store credentials through the real proxy against the real MinIO cluster: the
 * credentials file carries `sessionToken`, the proxy must send it as X-Amz-Security-Token (MinIO
 * refuses temporary keys without it), must pick up a rotated set without failing a request, and
 * must never forward the token a client sends of its own.
 *
 * Each STS set is issued (AssumeRole, signed with the root user) with a session policy that
 * denies PutObject under one prefix only; a PUT there tells which keys the proxy is signing with.
 * Rotation renames a new file over the credentials file: the proxy watches the file's directory
 * (proxy/credentials.ts), so this is seen like kubelet's `..data` swap of a Secret volume (that
 * path is exercised by policy-reload-stores.test.ts). Every wait is a bounded poll.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { assumeRole } from '../../../operator/controller/sts-client.ts';
import type { AssumedCredentials } from '../../../operator/controller/sts-client.ts';
import { CLIENT_KEYS, startStack } from './stack.ts';
import type { Stack } from './stack.ts';
import { until } from '../../testbed/until.ts';

const B = 'session-token';
let s: Stack;
let c: S3Client;
let written = 0;

before(async () => {
  s = await startStack({ buckets: [B] });
  c = s.client();
  await c.send(new CreateBucketCommand({ Bucket: B }));
  await c.send(new PutObjectCommand({ Bucket: B, Key: 'seed.txt', Body: 'seed' }));
});
after(async () => {
  await s?.stop();
});

/** Temporary credentials from MinIO's STS whose session policy denies PutObject under `deny/`. */
function issue(deny: string): Promise<AssumedCredentials> {
  const policy = {
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: ['s3:*'], Resource: ['arn:aws:s3:::*'] },
      { Effect: 'Deny', Action: ['s3:PutObject'], Resource: [`arn:aws:s3:::${B}/${deny}/*`] },
    ],
  };
  return assumeRole({
    endpoint: s.minio.endpoints[0]!,
    region: s.minio.region,
    credentials: { accessKeyId: s.minio.rootUser, secretAccessKey: s.minio.rootPassword },
    policy: JSON.stringify(policy),
    durationSeconds: 3600,
  });
}

/** Replaces the proxy's credentials file atomically: a temp file in the same directory, renamed over it. */
function writeCredentials(creds: {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}): void {
  const tmp = `${s.credentialsFile}.tmp-${written++}`;
  writeFileSync(tmp, JSON.stringify(creds));
  renameSync(tmp, s.credentialsFile);
}

/** 'ok', or the S3 error code (with status) the request failed with. */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    const e = err as Error & { $metadata?: { httpStatusCode?: number } };
    if (e.$metadata?.httpStatusCode === undefined) throw err;
    return `${e.$metadata.httpStatusCode} ${e.name}`;
  }
}

const put = (client: S3Client, key: string, body = key): Promise<string> =>
  outcome(client.send(new PutObjectCommand({ Bucket: B, Key: key, Body: body })));

async function get(client: S3Client, key: string): Promise<string> {
  const r = await client.send(new GetObjectCommand({ Bucket: B, Key: key }));
  return (await r.Body?.transformToString()) ?? '';
}

/** sluice_proxy_credential_reloads_total{result}. */
async function reloads(result: string): Promise<number> {
  const m = await s.proxy.metrics.credentialReloads.get();
  return m.values.find((v) => v.labels.result === result)?.value ?? 0;
}

void test("a client's own X-Amz-Security-Token is dropped, not forwarded", async () => {
  const bogus = { ...CLIENT_KEYS, sessionToken: 'garbage-token-from-the-app' };
  // Control: MinIO refuses the root keys when a (bogus) session token comes along...
  const direct = s.direct();
  const rootWithToken = s.client({
    endpoint: s.minio.endpoints[0],
    credentials: {
      accessKeyId: s.minio.rootUser,
      secretAccessKey: s.minio.rootPassword,
      sessionToken: bogus.sessionToken,
    },
  });
  assert.equal(
    await outcome(rootWithToken.send(new GetObjectCommand({ Bucket: B, Key: 'seed.txt' }))),
    '403 InvalidTokenId',
  );
  // ...so a success through the proxy (store keys without a token) shows the client's was stripped.
  const app = s.client({ credentials: bogus });
  assert.equal(await put(app, 'bogus-token/a.txt', 'from an app with a token'), 'ok');
  assert.equal(await get(app, 'bogus-token/a.txt'), 'from an app with a token');
  const r = await direct.send(new GetObjectCommand({ Bucket: B, Key: 'bogus-token/a.txt' }));
  assert.equal(await r.Body?.transformToString(), 'from an app with a token');
});

let first: AssumedCredentials;

void test('STS credentials in the credentials file: the proxy sends their session token', async () => {
  first = await issue('deny-a');
  assert.ok(first.sessionToken);
  assert.notEqual(first.accessKeyId, s.minio.rootUser);

  // Control: the same temporary keys without their token are refused by MinIO, through the proxy.
  writeCredentials({ accessKeyId: first.accessKeyId, secretAccessKey: first.secretAccessKey });
  let refused = '';
  await until(async () => {
    refused = await outcome(c.send(new GetObjectCommand({ Bucket: B, Key: 'seed.txt' })));
    return refused !== 'ok';
  }, 'the proxy to sign with the token-less temporary keys');
  assert.equal(refused, '403 InvalidTokenId', 'MinIO refuses temporary keys without their session token');

  // With the token the same keys work.
  writeCredentials(first);
  await until(
    async () => (await outcome(get(c, 'seed.txt'))) === 'ok',
    'the proxy to sign with the full STS set',
  );
  assert.equal(await put(c, 'sts/one.txt', 'one'), 'ok');
  assert.equal(await get(c, 'sts/one.txt'), 'one');
  const listed = await c.send(new ListObjectsV2Command({ Bucket: B, Prefix: 'sts/' }));
  assert.deepEqual(
    listed.Contents?.map((o) => o.Key),
    ['sts/one.txt'],
  );
  // The keys are the temporary ones (root could write here; this session may not).
  assert.match(await put(c, 'deny-a/x.txt'), /^403 AccessDenied$/);
  assert.equal(await put(c, 'deny-b/x.txt'), 'ok');
  // A client's bogus token is still dropped: the proxy's own token is the one MinIO sees.
  const app = s.client({ credentials: { ...CLIENT_KEYS, sessionToken: 'garbage-token-from-the-app' } });
  assert.equal(await put(app, 'sts/bogus.txt', 'bogus'), 'ok');
  assert.equal(await get(app, 'sts/bogus.txt'), 'bogus');
  assert.ok((await reloads('changed')) >= 2, 'both file changes were reloads that changed the signer');
});

void test('rotating to a second STS set under load fails no request', async () => {
  assert.ok(first, 'the previous test installed the first STS set');
  const second = await issue('deny-b');
  assert.notEqual(second.accessKeyId, first.accessKeyId);

  let stop = false;
  let ok = 0;
  const failures: string[] = [];
  const worker = async (w: number): Promise<void> => {
    const app = s.client();
    for (let i = 0; !stop; i++) {
      const key = `load/${w}/${i}.txt`;
      const r = await put(app, key, `${w}-${i}`);
      if (r !== 'ok') {
        failures.push(`PUT ${key}: ${r}`);
        continue;
      }
      const body = await get(app, key).catch((err: Error) => `error ${err.name}`);
      if (body === `${w}-${i}`) ok++;
      else failures.push(`GET ${key}: ${body}`);
    }
  };
  const load = Promise.all([worker(0), worker(1)]);
  try {
    await until(() => Promise.resolve(ok >= 20), 'load running on the first set');
    writeCredentials(second);
    // The second session may not write under deny-b/: once that is refused, the proxy signs with it.
    await until(
      async () => (await put(c, 'deny-b/probe.txt')) !== 'ok',
      'the proxy to sign with the second set',
    );
    assert.match(await put(c, 'deny-b/probe.txt'), /^403 AccessDenied$/);
    assert.equal(await put(c, 'deny-a/after-rotation.txt'), 'ok', "the first set's deny no longer applies");
    const okAtSwitch = ok;
    await until(() => Promise.resolve(ok >= okAtSwitch + 20), '20 more PUT+GET rounds on the second set');
  } finally {
    stop = true;
    await load;
  }
  assert.deepEqual(failures, [], 'no request failed across the rotation');
  const listed = await c.send(new ListObjectsV2Command({ Bucket: B, Prefix: 'load/0/' }));
  assert.ok((listed.KeyCount ?? 0) >= 1);

  // Never a secret in the logs.
  const text = s.logText();
  for (const secret of [
    first.secretAccessKey,
    first.sessionToken,
    second.secretAccessKey,
    second.sessionToken,
  ])
    assert.ok(!text.includes(secret), 'a credential leaked into the log');
});
