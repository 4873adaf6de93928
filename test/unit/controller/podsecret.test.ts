import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { IDENTITY_LABEL, MANAGED_BY_LABEL } from '../../../operator/contract.ts';
import {
  STS_STATE_ANNOTATION,
  controllerOwnerUid,
  desiredPodSecret,
  isManagedSecret,
  mergeForUpdate,
  secretDiffers,
  storedCredentials,
  storedPolicy,
} from '../../../operator/controller/podsecret.ts';
import { computePodPolicy } from '../../../operator/controller/policy.ts';
import type { Pod } from '../../../operator/controller/types.ts';
import { parseOperatorConfig, parseDuration } from '../../../operator/config.ts';

const pod: Pod = { metadata: { name: 'p', namespace: 'ns', uid: 'u1' } };
const doc = {
  version: 1 as const,
  stores: [
    {
      name: 's',
      endpoints: [{ url: 'http://x' }],
      region: 'r',
      addressing: 'path' as const,
      credentials: { file: 's.credentials.json' },
    },
  ],
  grants: [],
};
const creds = new Map([['s', { accessKeyId: 'a', secretAccessKey: 'b' }]]);

void describe('per-pod Secret', () => {
  void test('named after the identity, labelled, owned by the pod (controller), with policy and credentials', () => {
    const s = desiredPodSecret({ pod, identity: 'abc', document: doc, credentials: creds });
    assert.equal(s.metadata?.name, 'sluice-pod-abc');
    assert.equal(s.metadata?.labels?.[IDENTITY_LABEL], 'abc');
    assert.ok(isManagedSecret(s));
    assert.equal(controllerOwnerUid(s), 'u1');
    assert.deepEqual(JSON.parse(storedPolicy(s) ?? ''), doc);
    assert.deepEqual(storedCredentials(s, 's'), { accessKeyId: 'a', secretAccessKey: 'b' });
    assert.throws(
      () => desiredPodSecret({ pod, identity: 'abc', document: doc, credentials: new Map() }),
      /no credentials for store s/,
    );
  });
  void test('the empty policy is a real document', () => {
    const empty = computePodPolicy({
      pod,
      namespaceLabels: {},
      bucketAccesses: [],
      stores: new Map(),
      storeUsable: () => true,
    }).document;
    const s = desiredPodSecret({ pod, identity: 'e', document: empty, credentials: new Map() });
    assert.deepEqual(JSON.parse(storedPolicy(s) ?? ''), { version: 1, stores: [], grants: [] });
    assert.deepEqual(Object.keys(s.data ?? {}), ['policy.json']);
  });
  void test('diff: identical → no write; data, owner, our labels or STS state changed → write; foreign labels ignored and kept', () => {
    const want = desiredPodSecret({ pod, identity: 'abc', document: doc, credentials: creds });
    const stored = structuredClone(want);
    stored.metadata = {
      ...stored.metadata,
      resourceVersion: '5',
      labels: { ...stored.metadata?.labels, team: 'x' },
    };
    assert.equal(secretDiffers(stored, want), false);
    const rotated = desiredPodSecret({
      pod,
      identity: 'abc',
      document: doc,
      credentials: new Map([['s', { accessKeyId: 'a2', secretAccessKey: 'b' }]]),
    });
    assert.equal(secretDiffers(stored, rotated), true);
    assert.equal(
      secretDiffers(
        stored,
        desiredPodSecret({
          pod: { metadata: { ...pod.metadata, uid: 'u2' } },
          identity: 'abc',
          document: doc,
          credentials: creds,
        }),
      ),
      true,
    );
    assert.equal(
      secretDiffers(
        stored,
        desiredPodSecret({ pod, identity: 'abc', document: doc, credentials: creds, stsState: '{}' }),
      ),
      true,
    );
    const unlabelled = structuredClone(stored);
    delete unlabelled.metadata?.labels?.[MANAGED_BY_LABEL];
    assert.equal(secretDiffers(unlabelled, want), true);
    const merged = mergeForUpdate(stored, rotated);
    assert.equal(merged.metadata?.labels?.team, 'x');
    assert.equal(
      merged.metadata?.resourceVersion,
      '5',
      'PUT carries the resourceVersion (optimistic concurrency)',
    );
    assert.equal(merged.metadata?.annotations?.[STS_STATE_ANNOTATION], undefined);
  });
});

void describe('operator config', () => {
  void test('durations', () => {
    assert.deepEqual(
      ['500ms', '15s', '2m', '1h', '3'].map((d) => parseDuration('f', d)),
      [500, 15000, 120000, 3600000, 3000],
    );
    // Go durations, as the chart's schema accepts them (1m30s put the operator in a crash loop).
    assert.deepEqual(
      ['1m30s', '2h45m', '1.5s', '1s500ms', '2000000us'].map((d) => parseDuration('f', d)),
      [90_000, 9_900_000, 1500, 1500, 2000],
    );
    for (const bad of ['1m30', 's', '1x', '-1s'])
      assert.throws(() => parseDuration('--x', bad), /is not a duration/, bad);
    assert.throws(
      () => parseDuration('--x', '5 minutes'),
      /operator config --x: "5 minutes" is not a duration/,
    );
  });
  void test('the chart flags parse; defaults fill the rest; bad values name their flag', () => {
    const c = parseOperatorConfig(
      {
        webhookPort: '9443',
        tlsMode: 'cert-manager',
        tlsCertDir: '/tls',
        leaderElect: 'false',
        sidecarImage: 'img:1',
        sidecarCpuRequest: '50m',
        hostNetwork: 'skip',
      },
      { podName: 'op-0', podNamespace: 'sys' },
    );
    assert.equal(c.namespace, 'sys');
    assert.match(c.identity, /^op-0_[0-9a-f]{8}$/);
    assert.deepEqual(c.webhook.tls, { mode: 'cert-manager', certDir: '/tls' });
    assert.equal(c.leaderElection.enabled, false);
    assert.equal(c.leaderElection.leaseDurationMs, 15000);
    assert.equal(c.webhook.injector.image, 'img:1');
    assert.equal(c.webhook.injector.operatorNamespace, 'sys');
    assert.equal(c.webhook.injector.resources.requests.cpu, '50m');
    assert.equal(c.webhook.injector.hostNetwork, 'skip');
    assert.equal(c.webhook.injector.nodeOptions, '--max-semi-space-size=1', 'the default');
    assert.equal(parseOperatorConfig({ sidecarNodeOptions: '' }).webhook.injector.nodeOptions, '');
    assert.equal(
      parseOperatorConfig({ sidecarNodeOptions: ' --max-old-space-size=200 ' }).webhook.injector.nodeOptions,
      '--max-old-space-size=200',
    );
    assert.throws(() => parseOperatorConfig({ tlsMode: 'cert-manager' }), /--tls-cert-dir: required/);
    assert.throws(
      () => parseOperatorConfig({ leaderElectionRenewDeadline: '20s' }),
      /lease-duration > renew-deadline/,
    );
    assert.throws(() => parseOperatorConfig({ webhookPort: '70000' }), /--webhook-port/);
    assert.throws(() => parseOperatorConfig({ leaderElect: 'yes' }), /--leader-elect/);
    assert.throws(() => parseOperatorConfig({ stsDuration: '5m' }), /--sts-duration/);
  });
});
