import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { V1Container } from '@kubernetes/client-node';
import {
  ADMIN_PORT,
  IDENTITY_LABEL,
  SIDECAR_CONTAINER_NAME,
  SIDECAR_NODE_OPTIONS,
} from '../../../operator/contract.ts';
import { resolveInjectorConfig } from '../../../operator/webhook/config.ts';
import { isIdentity, randomIdentity } from '../../../operator/webhook/identity.ts';
import { mutate, mutatePod } from '../../../operator/webhook/mutate.ts';
import type { MutationContext } from '../../../operator/webhook/mutate.ts';
import { applyPatch } from '../../../operator/webhook/patch.ts';
import type { PatchOp } from '../../../operator/webhook/patch.ts';
import type { AdmissionReview, Pod } from '../../../operator/webhook/types.ts';
import { reviewFor, stubIdentities } from '../../fixtures/cases.ts';

const ctx = (over: Partial<MutationContext> = {}): MutationContext => ({
  config: resolveInjectorConfig(),
  nativeSidecars: true,
  namespaceLabels: {},
  newIdentity: stubIdentities(),
  ...over,
});

const annotated = (spec: Pod['spec'] = { containers: [{ name: 'app', image: 'x' }] }): Pod => ({
  metadata: { name: 'p', namespace: 'ns', annotations: { 'sluice.dev/inject': 'true' } },
  spec,
});

function injected(pod: Pod, c = ctx()): Pod {
  const m = mutatePod(pod, 'ns', c);
  assert.equal(m.outcome.result, 'injected', JSON.stringify(m.outcome));
  return applyPatch(pod, m.patch);
}

function sidecarOf(pod: Pod): V1Container {
  const s = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find(
    (c) => c.name === SIDECAR_CONTAINER_NAME,
  );
  assert.ok(s);
  return s;
}

void describe('mutate()', () => {
  void test('answers only Pod CREATE; everything else is allowed unchanged with the same uid', () => {
    const review = reviewFor(annotated(), 'uid-1');
    review.request!.operation = 'UPDATE';
    const r = mutate(review, ctx());
    assert.deepEqual(r.outcome, { result: 'skipped', reason: 'not-a-pod-create' });
    assert.deepEqual(r.review, {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'uid-1', allowed: true },
    });
    const sub: AdmissionReview = reviewFor(annotated(), 'uid-2');
    sub.request!.subResource = 'ephemeralcontainers';
    assert.equal(mutate(sub, ctx()).outcome.result, 'skipped');
  });

  void test('a patch is base64 JSON Patch that applies to the request object', () => {
    const pod = annotated();
    const r = mutate(reviewFor(pod), ctx());
    assert.equal(r.review.response?.patchType, 'JSONPatch');
    const ops = JSON.parse(Buffer.from(r.review.response.patch!, 'base64').toString()) as PatchOp[];
    const after = applyPatch(pod, ops);
    assert.equal(after.metadata?.annotations?.['sluice.dev/status'], 'injected');
  });

  void test('each pod gets a fresh identity from the source; foreign labels never survive', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const pod = annotated();
      pod.metadata!.labels = { [IDENTITY_LABEL]: 'someone-else' };
      const after = injected(pod, ctx({ newIdentity: randomIdentity }));
      const id = after.metadata!.labels![IDENTITY_LABEL]!;
      assert.ok(isIdentity(id), id);
      ids.add(id);
    }
    assert.equal(ids.size, 3);
  });

  void test('namespace injection needs the label; an unknown namespace is not enabled', () => {
    const pod: Pod = { metadata: { name: 'p' }, spec: { containers: [{ name: 'a' }] } };
    assert.equal(mutatePod(pod, 'ns', ctx({ namespaceLabels: undefined })).outcome.result, 'skipped');
    assert.equal(
      mutatePod(pod, 'ns', ctx({ namespaceLabels: { 'sluice.dev/injection': 'disabled' } })).outcome.result,
      'skipped',
    );
    assert.equal(
      mutatePod(pod, 'ns', ctx({ namespaceLabels: { 'sluice.dev/injection': 'enabled' } })).outcome.result,
      'injected',
    );
  });

  void test('a malformed inject annotation warns and falls back to the namespace', () => {
    const pod = annotated();
    pod.metadata!.annotations!['sluice.dev/inject'] = 'True';
    const m = mutatePod(pod, 'ns', ctx());
    assert.deepEqual(m.outcome, { result: 'skipped', reason: 'not-enabled' });
    assert.match(m.warnings.join('\n'), /"True" is neither/);
  });

  void test('excluded namespaces and the operator namespace win over the annotation', () => {
    const c = ctx({ config: resolveInjectorConfig({ operatorNamespace: 'ops' }) });
    assert.deepEqual(mutatePod(annotated(), 'ops', c).outcome, {
      result: 'skipped',
      reason: 'operator-namespace',
    });
    assert.deepEqual(mutatePod(annotated(), 'kube-system', c).outcome, {
      result: 'skipped',
      reason: 'excluded-namespace',
    });
  });

  void test('native sidecar: first init container, restartPolicy Always, startup probe on the admin port', () => {
    const after = injected(annotated({ initContainers: [{ name: 'init' }], containers: [{ name: 'app' }] }));
    const [first, second] = after.spec!.initContainers!;
    assert.equal(first?.name, SIDECAR_CONTAINER_NAME);
    assert.equal(second?.name, 'init');
    assert.equal(first?.restartPolicy, 'Always');
    assert.equal(first?.startupProbe?.httpGet?.path, '/readyz');
    assert.equal(first?.startupProbe?.httpGet?.port, 'sluice-admin');
    assert.deepEqual(first?.ports, [{ name: 'sluice-admin', containerPort: ADMIN_PORT, protocol: 'TCP' }]);
    assert.equal(first?.lifecycle, undefined);
    assert.deepEqual(
      after.spec!.containers.map((c) => c.name),
      ['app'],
    );
  });

  void test('the sidecar runtime env: default NODE_OPTIONS, the operator’s own, or none', () => {
    const env = (nodeOptions?: string) =>
      Object.fromEntries(
        (
          sidecarOf(
            injected(
              annotated(),
              ctx({ config: resolveInjectorConfig({ ...(nodeOptions !== undefined && { nodeOptions }) }) }),
            ),
          ).env ?? []
        )
          .filter((e) => e.value !== undefined)
          .map((e) => [e.name, e.value]),
      );
    const malloc = { MALLOC_ARENA_MAX: '1', MALLOC_MMAP_THRESHOLD_: '32768' };
    assert.deepEqual(env(), { NODE_OPTIONS: SIDECAR_NODE_OPTIONS, ...malloc });
    assert.deepEqual(env('--max-old-space-size=200'), {
      NODE_OPTIONS: '--max-old-space-size=200',
      ...malloc,
    });
    assert.deepEqual(env(''), malloc);
  });

  void test('legacy sidecar: first regular container, hooks gate start and delay stop', () => {
    const after = injected(annotated(), ctx({ nativeSidecars: false }));
    const s = after.spec!.containers[0]!;
    assert.equal(s.name, SIDECAR_CONTAINER_NAME);
    assert.equal(s.restartPolicy, undefined);
    assert.equal(after.spec!.initContainers, undefined);
    assert.match(s.lifecycle!.postStart!.exec!.command!.join(' '), /127\.0\.0\.1:7481\/readyz/);
    assert.match(s.lifecycle!.preStop!.exec!.command!.join(' '), /setTimeout\(\(\)=>\{\},10000\)/);
    assert.equal(after.metadata?.annotations?.['kubectl.kubernetes.io/default-container'], 'app');
  });

  void test('the sidecar is locked down and mounts policy and pod info read-only', () => {
    const s = sidecarOf(injected(annotated()));
    assert.deepEqual(s.securityContext, {
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    assert.deepEqual(
      s.volumeMounts?.map((m) => [m.mountPath, m.readOnly]),
      [
        ['/var/run/sluice/policy', true],
        ['/var/run/sluice/podinfo', true],
      ],
    );
    assert.deepEqual(s.args, [
      'proxy',
      '--policy',
      '/var/run/sluice/policy/policy.json',
      '--listen',
      '127.0.0.1:7480',
      '--admin',
      ':7481',
      '--log-level',
      'info',
    ]);
  });

  void test('app env is added, never overridden', () => {
    const after = injected(
      annotated({ containers: [{ name: 'app', env: [{ name: 'AWS_ACCESS_KEY_ID', value: 'mine' }] }] }),
    );
    const env = after.spec!.containers[0]!.env!;
    assert.deepEqual(
      env.map((e) => [e.name, e.value]),
      [
        ['AWS_ACCESS_KEY_ID', 'mine'],
        ['AWS_ENDPOINT_URL_S3', 'http://127.0.0.1:7480'],
        ['AWS_REGION', 'us-east-1'],
        ['AWS_SECRET_ACCESS_KEY', 'sluice-placeholder-not-a-secret'],
      ],
    );
  });

  void test('a port override moves both the listener and the app endpoint', () => {
    const pod = annotated();
    pod.metadata!.annotations!['sluice.dev/proxy-port'] = '9000';
    const after = injected(pod);
    assert.ok(sidecarOf(after).args!.includes('127.0.0.1:9000'));
    assert.equal(
      after.spec!.containers[0]!.env!.find((e) => e.name === 'AWS_ENDPOINT_URL_S3')?.value,
      'http://127.0.0.1:9000',
    );
  });

  void test('an app container on the sidecar port is warned about', () => {
    const m = mutatePod(
      annotated({ containers: [{ name: 'app', ports: [{ containerPort: 7480 }] }] }),
      'ns',
      ctx(),
    );
    assert.match(m.warnings.join('\n'), /uses port 7480/);
  });

  void test('offline mode: no identity, an uncreatable Secret name, foreign label removed', () => {
    const pod = annotated();
    pod.metadata!.labels = { [IDENTITY_LABEL]: 'copied' };
    const m = mutatePod(
      pod,
      'ns',
      ctx({ offline: true, newIdentity: () => assert.fail('no identity offline') }),
    );
    const after = applyPatch(pod, m.patch);
    assert.equal(after.metadata?.labels?.[IDENTITY_LABEL], undefined);
    const secretName = after.spec?.volumes?.find((v) => v.name === 'sluice-policy')?.secret?.secretName;
    assert.equal(secretName, 'sluice-pod-UNASSIGNED');
    assert.doesNotMatch(secretName, /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'not a valid Secret name');
    // Admission completes it.
    const done = mutatePod(after, 'ns', ctx());
    assert.equal(done.outcome.result, 'identity-assigned');
    assert.equal(
      applyPatch(after, done.patch).spec?.volumes?.find((v) => v.name === 'sluice-policy')?.secret
        ?.secretName,
      'sluice-pod-idstub0000000000000000001',
    );
  });

  void test('re-invoked after a later webhook added containers: only they get the S3 env', () => {
    const s3 = (c?: V1Container): string[] =>
      (c?.env ?? []).map((e) => e.name).filter((n) => n.startsWith('AWS_'));
    const all = ['AWS_ENDPOINT_URL_S3', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'];
    for (const native of [true, false]) {
      const pod = injected(annotated(), ctx({ nativeSidecars: native }));
      // Another webhook (reinvocationPolicy IfNeeded calls Sluice again) adds two containers.
      pod.spec!.containers.push(
        { name: 'shipper', image: 'y' },
        { name: 'own-region', image: 'z', env: [{ name: 'AWS_REGION', value: 'eu-west-3' }] },
      );
      // The API server's answer to /version may have changed since: the pod decides.
      const m = mutatePod(pod, 'ns', ctx({ nativeSidecars: !native }));
      assert.equal(m.outcome.result, 'env-completed', `native ${native}`);
      const after = applyPatch(pod, m.patch);
      const byName = (n: string): V1Container | undefined => after.spec?.containers.find((c) => c.name === n);
      assert.deepEqual(s3(byName('shipper')), all);
      assert.deepEqual(after.spec?.containers.find((c) => c.name === 'own-region')?.env?.[0], {
        name: 'AWS_REGION',
        value: 'eu-west-3',
      });
      assert.deepEqual(s3(byName('own-region')).sort(), [...all].sort());
      assert.deepEqual(s3(sidecarOf(after)), [], 'the sidecar never gets the S3 env');
      assert.deepEqual(
        { ...after, spec: { ...after.spec, containers: [] } },
        {
          ...pod,
          spec: { ...pod.spec, containers: [] },
        },
      );
      assert.match(m.warnings.join('\n'), /"own-region" sets its own AWS_REGION/);
      assert.doesNotMatch(m.warnings.join('\n'), /"app"/, 'no repeated warnings about injected containers');
      // Once more with nothing new: no patch.
      assert.deepEqual(mutatePod(after, 'ns', ctx()), {
        outcome: { result: 'skipped', reason: 'already-injected' },
        patch: [],
        warnings: [],
      });
    }
  });

  void test('re-invoked with sluice.dev/containers: a container it does not name stays as it is', () => {
    const pod = annotated();
    pod.metadata!.annotations!['sluice.dev/containers'] = 'app';
    const after = injected(pod);
    after.spec!.containers.push({ name: 'shipper', image: 'y' });
    assert.deepEqual(mutatePod(after, 'ns', ctx()).patch, []);
  });

  void test('a pod that arrives injected, with an identity, on the host network is refused too', () => {
    const pod = injected(annotated());
    pod.spec!.hostNetwork = true;
    assert.ok(pod.metadata?.labels?.['sluice.dev/identity'], 'it carries an identity');
    const m = mutatePod(pod, 'ns', ctx());
    assert.equal(m.outcome.result, 'denied', JSON.stringify(m.outcome));
    const skipped = mutatePod(pod, 'ns', ctx({ config: resolveInjectorConfig({ hostNetwork: 'skip' }) }));
    assert.equal(skipped.outcome.result, 'skipped');
  });

  void test('a copy of an injected pod whose identity another pod holds gets a fresh one', () => {
    const c = ctx(); // one identity source: the copy's identity must come after the original's
    const original = injected(annotated(), c);
    const id = original.metadata?.labels?.[IDENTITY_LABEL];
    // Re-invocation (the pod does not exist yet): nothing changes.
    assert.deepEqual(mutatePod(original, 'ns', c).patch, []);
    const m = mutatePod(original, 'ns', { ...c, identityInUse: true });
    assert.equal(m.outcome.result, 'identity-assigned', JSON.stringify(m.outcome));
    const copy = applyPatch(original, m.patch);
    const fresh = copy.metadata?.labels?.[IDENTITY_LABEL];
    assert.ok(fresh && fresh !== id, `${fresh} after ${id}`);
    const secret = copy.spec?.volumes?.find((v) => v.name === 'sluice-policy')?.secret?.secretName;
    assert.equal(secret, `sluice-pod-${fresh}`);
    assert.match(m.warnings.join('\n'), /held by another pod/);
  });

  void test('an app container that mounts the policy volume (the credentials) is refused', () => {
    for (const where of ['containers', 'initContainers'] as const) {
      const pod = annotated({
        containers: [{ name: 'app', image: 'x' }],
        [where === 'containers' ? 'containers' : 'initContainers']: [
          { name: 'thief', image: 'x', volumeMounts: [{ name: 'sluice-policy', mountPath: '/steal' }] },
          ...(where === 'containers' ? [{ name: 'app', image: 'x' }] : []),
        ],
      });
      const m = mutatePod(pod, 'ns', ctx());
      assert.equal(m.outcome.result, 'denied', `${where}: ${JSON.stringify(m.outcome)}`);
      assert.match(JSON.stringify(m.outcome), /thief.*sluice-policy/);
      assert.equal(m.patch.length, 0);
    }
  });

  void test('a process namespace shared with the sidecar: refused while a container could become its UID or trace it', () => {
    const denied = (pod: Pod, c = ctx()): string => {
      const m = mutatePod(pod, 'ns', c);
      assert.equal(m.outcome.result, 'denied', JSON.stringify(m.outcome));
      assert.equal(m.patch.length, 0);
      return JSON.stringify(m.outcome);
    };
    // A container that cannot become 65532: its own UID, no escalation.
    const safe = { runAsUser: 1000, allowPrivilegeEscalation: false };
    const app = (securityContext: V1Container['securityContext'] = safe): V1Container => ({
      name: 'app',
      image: 'x',
      securityContext,
    });
    const shared = (...containers: V1Container[]): Pod =>
      annotated({ shareProcessNamespace: true, containers });
    const cases: [Pod, RegExp][] = [
      // No UID pinned: the image's user may be 65532 (distroless's nonroot).
      [
        shared(app({})),
        /ProcessNamespaceShared.*shareProcessNamespace lets containers \\"app\\" \(sets no runAsUser/,
      ],
      [annotated({ hostPID: true, containers: [app({})] }), /hostPID lets containers/],
      [
        shared(app(), { ...app({ runAsUser: 65532 }), name: 'same' }),
        /"same\\" \(runs as the sidecar's UID 65532\)/,
      ],
      // A setuid binary of its image would make it root, and root becomes 65532.
      [shared(app({ runAsUser: 1000 })), /may escalate privileges/],
      [
        shared(app({ runAsUser: 0, allowPrivilegeEscalation: false })),
        /runs as root keeping SETUID and SETGID/,
      ],
      [
        shared(app({ runAsUser: 0, allowPrivilegeEscalation: false, capabilities: { drop: ['SETUID'] } })),
        /runs as root keeping/,
      ],
      [shared(app({ ...safe, capabilities: { add: ['sys_ptrace'] } })), /\(adds SYS_PTRACE\)/],
      [shared(app({ ...safe, capabilities: { add: ['CAP_SETUID'] } })), /\(adds SETUID\)/],
      [shared(app({ ...safe, privileged: true })), /\(privileged\)/],
      // Root keeps what it adds under no_new_privs: tracing (SYS_ADMIN), file handles, modules.
      [
        shared(
          app({
            runAsUser: 0,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'], add: ['SYS_ADMIN'] },
          }),
        ),
        /\(adds SYS_ADMIN\)/,
      ],
      // containerd reads a dropped "CAP_SETUID" as CAP_CAP_SETUID and drops nothing.
      [
        shared(
          app({
            runAsUser: 0,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['CAP_SETUID', 'CAP_SETGID'] },
          }),
        ),
        /runs as root keeping SETUID and SETGID/,
      ],
    ];
    for (const [pod, message] of cases) assert.match(denied(pod), message);
    const initTracer = annotated({
      shareProcessNamespace: true,
      initContainers: [{ ...app({ ...safe, capabilities: { add: ['ALL'] } }), name: 'tracer' }],
      containers: [app()],
    });
    assert.match(denied(initTracer), /"tracer\\" \(adds ALL\)/);
    // Injected: a pinned UID without escalation; root that dropped ALL (or SETUID and SETGID);
    // the pod-level runAsUser counts. The sidecar itself (65532) is not judged, native or legacy,
    // and not when a re-invocation sees it already in the pod.
    const root = app({
      runAsUser: 0,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['setuid', 'SETGID'], add: ['NET_BIND_SERVICE'] },
    });
    const podLevel = annotated({
      shareProcessNamespace: true,
      securityContext: { runAsUser: 2000 },
      containers: [app({ allowPrivilegeEscalation: false })],
    });
    for (const nativeSidecars of [true, false]) {
      for (const pod of [shared(app()), shared(root), podLevel]) {
        const c = ctx({ nativeSidecars });
        const again = injected(pod, c);
        assert.deepEqual(mutatePod(again, 'ns', c).outcome, {
          result: 'skipped',
          reason: 'already-injected',
        });
      }
    }
    // A root init container (a volume's chown) ends before a legacy sidecar starts; beside a
    // native one it runs with it. An app's own restartable init container runs beside either.
    const chown = { ...app({}), name: 'chown' };
    const withInit = (init: V1Container): Pod =>
      annotated({ shareProcessNamespace: true, initContainers: [init], containers: [app()] });
    assert.equal(mutatePod(withInit(chown), 'ns', ctx({ nativeSidecars: false })).outcome.result, 'injected');
    assert.match(denied(withInit(chown), ctx({ nativeSidecars: true })), /"chown\\" \(sets no runAsUser/);
    assert.match(
      denied(withInit({ ...chown, restartPolicy: 'Always' }), ctx({ nativeSidecars: false })),
      /"chown/,
    );
    // Not shared: no UID needed, as before.
    assert.equal(mutatePod(annotated({ containers: [app({})] }), 'ns', ctx()).outcome.result, 'injected');
    // Injected already, and back with the namespace shared (a later webhook, a copied manifest).
    const c = ctx();
    const pod = injected(annotated(), c);
    pod.spec!.shareProcessNamespace = true;
    const message = denied(pod, c);
    assert.match(message, /sets no runAsUser/);
    assert.doesNotMatch(message, /opt out/, 'the annotation does not change an injected pod');
    assert.match(denied(shared(app({}))), /opt out with sluice.dev\/inject/);
  });

  void test('marked injected without a sidecar is denied, not half-fixed', () => {
    const pod = annotated();
    pod.metadata!.annotations!['sluice.dev/status'] = 'injected';
    const m = mutatePod(pod, 'ns', ctx());
    assert.equal(m.outcome.result, 'denied');
    assert.equal(m.patch.length, 0);
  });
});

void describe('identities', () => {
  void test('are 24 base32 characters starting with a letter, valid as label value and DNS label', () => {
    for (let i = 0; i < 200; i++) {
      const id = randomIdentity();
      assert.match(id, /^[a-z][a-z2-7]{23}$/);
    }
  });
});
