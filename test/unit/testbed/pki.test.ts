import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCA, issueCert } from '../../testbed/pki.ts';

void describe('test-bed PKI (openssl)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-pki-test-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = createCA(dir, 'unit');

  void test('the CA is a self-signed CA certificate', () => {
    const x = new X509Certificate(ca.cert);
    assert.equal(x.ca, true);
    assert.ok(x.verify(x.publicKey));
  });

  void test('a serving cert is signed by the CA and carries IP and DNS SANs', () => {
    const c = issueCert(dir, ca, {
      commonName: 'webhook',
      ips: ['127.0.0.1'],
      dnsNames: ['localhost'],
      usage: 'server',
    });
    const x = new X509Certificate(c.cert);
    assert.ok(x.checkIssued(new X509Certificate(ca.cert)));
    assert.ok(x.verify(new X509Certificate(ca.cert).publicKey));
    assert.equal(x.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(x.checkHost('localhost'), 'localhost');
    assert.equal(x.ca, false);
  });

  void test('a client cert carries the user as CN and groups as O (what Kubernetes reads)', () => {
    const c = issueCert(dir, ca, {
      commonName: 'system:serviceaccount:ns:sa',
      organizations: ['g1', 'system:masters'],
      usage: 'client',
    });
    const subject = new X509Certificate(c.cert).subject.split('\n');
    assert.ok(subject.includes('CN=system:serviceaccount:ns:sa'));
    assert.ok(subject.includes('O=g1'));
    assert.ok(subject.includes('O=system:masters'));
  });
});
