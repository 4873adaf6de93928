/**
 * The HTTPS layer against a real server on port 0: routing, AdmissionReview checks, namespace
 * lookups, readiness, metrics, and certificate reload without restart.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { Registry } from 'prom-client';
import { renewBundle } from '../../../operator/tls/bundle.ts';
import type { CertBundle } from '../../../operator/tls/bundle.ts';
import { staticCertificateSource } from '../../../operator/tls/source.ts';
import { resolveInjectorConfig } from '../../../operator/webhook/config.ts';
import { startWebhookServer } from '../../../operator/webhook/server.ts';
import type { WebhookServer } from '../../../operator/webhook/server.ts';
import type { AdmissionReview, Pod } from '../../../operator/webhook/types.ts';
import { reviewFor } from '../../fixtures/cases.ts';

const policy = {
  dnsNames: ['localhost'],
  ipAddresses: ['127.0.0.1'],
  caValidityDays: 10,
  certValidityDays: 5,
  renewFraction: 1 / 3,
};
const silent = pino({ level: 'silent' });

/** Writes a mounted certificate pair as kubelet does: new files, then an atomic rename. */
function writePair(dir: string, cert: string, key: string): void {
  writeFileSync(join(dir, 'tls.crt.tmp'), cert);
  writeFileSync(join(dir, 'tls.key.tmp'), key);
  renameSync(join(dir, 'tls.key.tmp'), join(dir, 'tls.key'));
  renameSync(join(dir, 'tls.crt.tmp'), join(dir, 'tls.crt'));
}

/** A webhook server on the pair mounted in `dir`, polled every 20 ms. */
function startMounted(dir: string, logger: pino.Logger): Promise<WebhookServer> {
  return startWebhookServer({
    injector: resolveInjectorConfig(),
    tls: { mode: 'mounted', certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), pollMs: 20 },
    port: 0,
    host: '127.0.0.1',
    nativeSidecars: true,
    namespaceLabels: () => Promise.resolve({}),
    logger,
  });
}

interface Reply {
  status: number;
  body: string;
}

function call(port: number, ca: string, method: string, path: string, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, ca, headers: { 'content-type': 'application/json' } },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (data += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function servedCert(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const pem = s.getPeerX509Certificate()!.toString();
      s.end();
      resolve(new X509Certificate(pem).fingerprint256);
    });
    s.on('error', reject);
  });
}

const pod = (annotations: Record<string, string>, ns = 'ns'): Pod => ({
  metadata: { name: 'p', namespace: ns, annotations },
  spec: { containers: [{ name: 'app' }] },
});

void describe('webhook server', () => {
  const bundle = renewBundle(undefined, 'ca', policy, new Date());
  const registry = new Registry();
  const lookups: string[] = [];
  let server: WebhookServer;

  before(async () => {
    server = await startWebhookServer({
      injector: resolveInjectorConfig(),
      tls: {
        mode: 'source',
        source: staticCertificateSource({ cert: bundle.cert, key: bundle.key, ca: bundle.caCert }),
      },
      port: 0,
      host: '127.0.0.1',
      nativeSidecars: true,
      namespaceLabels: (name) => {
        lookups.push(name);
        if (name === 'broken') return Promise.reject(new Error('forbidden'));
        const labels: Record<string, string> = name === 'on' ? { 'sluice.dev/injection': 'enabled' } : {};
        return Promise.resolve(labels);
      },
      logger: silent,
      registry,
    });
  });
  after(() => server.close());

  void test('POST /mutate answers an AdmissionReview with the same uid', async () => {
    const r = await call(
      server.port,
      bundle.caCert,
      'POST',
      '/mutate',
      JSON.stringify(reviewFor(pod({ 'sluice.dev/inject': 'true' }), 'u-1')),
    );
    assert.equal(r.status, 200);
    const review = JSON.parse(r.body) as AdmissionReview;
    assert.equal(review.apiVersion, 'admission.k8s.io/v1');
    assert.equal(review.response?.uid, 'u-1');
    assert.equal(review.response?.allowed, true);
    assert.equal(review.response?.patchType, 'JSONPatch');
    assert.deepEqual(lookups, [], 'an explicit annotation needs no namespace lookup');
  });

  void test('namespace labels are looked up when the pod leaves it to the namespace', async () => {
    const r = await call(
      server.port,
      bundle.caCert,
      'POST',
      '/mutate',
      JSON.stringify(reviewFor(pod({}, 'on'))),
    );
    assert.ok((JSON.parse(r.body) as AdmissionReview).response?.patch);
    assert.deepEqual(lookups, ['on']);
  });

  void test('a failed namespace lookup fails the call (failurePolicy decides) with a clear message', async () => {
    const r = await call(
      server.port,
      bundle.caCert,
      'POST',
      '/mutate',
      JSON.stringify(reviewFor(pod({}, 'broken'))),
    );
    assert.equal(r.status, 500);
    const status = JSON.parse(r.body) as { kind: string; message: string; reason: string };
    assert.equal(status.kind, 'Status');
    assert.equal(status.reason, 'NamespaceLookupFailed');
    assert.match(status.message, /namespace broken: forbidden/);
  });

  void test('only AdmissionReview v1 is accepted', async () => {
    const v1beta1 = { ...reviewFor(pod({})), apiVersion: 'admission.k8s.io/v1beta1' };
    const r = await call(server.port, bundle.caCert, 'POST', '/mutate', JSON.stringify(v1beta1));
    assert.equal(r.status, 400);
    assert.match(r.body, /admissionReviewVersions/);
    assert.equal((await call(server.port, bundle.caCert, 'POST', '/mutate', '{nope')).status, 400);
    assert.equal(
      (
        await call(
          server.port,
          bundle.caCert,
          'POST',
          '/mutate',
          '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}',
        )
      ).status,
      400,
    );
    assert.equal((await call(server.port, bundle.caCert, 'GET', '/mutate')).status, 404);
  });

  void test('oversized bodies are refused from their declared length, before reading them', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: server.port,
          method: 'POST',
          path: '/mutate',
          ca: bundle.caCert,
          headers: { 'content-length': String(5 * 1024 * 1024) },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
          req.destroy();
        },
      );
      req.on('error', reject);
      req.flushHeaders();
    });
    assert.equal(status, 413);
  });

  void test('health, readiness and metrics', async () => {
    assert.equal((await call(server.port, bundle.caCert, 'GET', '/healthz')).status, 200);
    assert.equal((await call(server.port, bundle.caCert, 'GET', '/readyz')).status, 200);
    const metrics = await registry.metrics();
    assert.match(metrics, /sluice_operator_webhook_admissions_total\{result="injected",reason=""\} 2/);
    assert.match(
      metrics,
      /sluice_operator_webhook_admissions_total\{result="error",reason="NamespaceLookupFailed"\} 1/,
    );
    assert.match(metrics, /sluice_operator_webhook_native_sidecars 1/);
  });
});

void describe('webhook server lifecycle', () => {
  void test('not ready until the API server version is known; legacy sidecars meanwhile', async () => {
    const bundle = renewBundle(undefined, 'ca', policy, new Date());
    const server = await startWebhookServer({
      injector: resolveInjectorConfig(),
      tls: { mode: 'source', source: staticCertificateSource({ cert: bundle.cert, key: bundle.key }) },
      port: 0,
      host: '127.0.0.1',
      namespaceLabels: () => Promise.resolve({}),
      serverVersion: () => Promise.reject(new Error('unreachable')),
      logger: silent,
    });
    try {
      assert.equal((await call(server.port, bundle.caCert, 'GET', '/readyz')).status, 503);
      assert.equal(server.ready(), false, "the operator's own /readyz (operator/cli.ts) asks this");
      const r = await call(
        server.port,
        bundle.caCert,
        'POST',
        '/mutate',
        JSON.stringify(reviewFor(pod({ 'sluice.dev/inject': 'true' }))),
      );
      const patch = Buffer.from(
        (JSON.parse(r.body) as AdmissionReview).response!.patch!,
        'base64',
      ).toString();
      assert.doesNotMatch(patch, /initContainers/, 'no native sidecar without a known version');
    } finally {
      await server.close();
    }
  });

  void test('a mounted certificate is reloaded without a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-tls-'));
    const write = (b: CertBundle): void => writePair(dir, b.cert, b.key);
    const first = renewBundle(undefined, 'ca', policy, new Date());
    write(first);
    const server = await startMounted(dir, silent);
    try {
      const before = await servedCert(server.port, first.caCert);
      assert.equal(before, new X509Certificate(first.cert).fingerprint256);
      const second = renewBundle(first, 'cert', policy, new Date());
      write(second);
      const want = new X509Certificate(second.cert).fingerprint256;
      let seen = before;
      for (let i = 0; i < 500 && seen !== want; i++) {
        await new Promise((r) => setTimeout(r, 20));
        seen = await servedCert(server.port, first.caCert);
      }
      assert.equal(seen, want, 'the new certificate is served by the same server');
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void test('a mismatched mounted pair is skipped: the old one is served until a matching pair', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-tls-'));
    const write = (cert: string, key: string): void => writePair(dir, cert, key);
    // The log tells when a poll has seen the mismatched pair.
    const logged: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void logged.push(line) });
    const first = renewBundle(undefined, 'ca', policy, new Date());
    write(first.cert, first.key);
    const server = await startMounted(dir, logger);
    const until = async (what: string, done: () => Promise<boolean> | boolean): Promise<void> => {
      for (let i = 0; i < 250; i++) {
        if (await done()) return;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.fail(`timed out waiting for ${what}`);
    };
    try {
      const second = renewBundle(first, 'cert', policy, new Date());
      // tls.crt read after kubelet's swap, tls.key before it.
      write(second.cert, first.key);
      const skipped = (): number => logged.filter((l) => l.includes('do not match')).length;
      await until('two polls to skip the mismatched pair', () => skipped() >= 2);
      assert.equal(
        await servedCert(server.port, first.caCert),
        new X509Certificate(first.cert).fingerprint256,
        'the previous pair is still served',
      );
      write(second.cert, second.key);
      const want = new X509Certificate(second.cert).fingerprint256;
      await until('the matching pair', async () => (await servedCert(server.port, first.caCert)) === want);
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
