import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { caBundlePem, renewBundle, renewalNeeded } from '../../../operator/tls/bundle.ts';
import type { CertPolicy } from '../../../operator/tls/bundle.ts';
import { createCa, issueServingCert } from '../../../operator/tls/generate.ts';

const DAY = 86_400_000;
const now = new Date('2026-01-01T00:00:00Z');
const policy: CertPolicy = {
  dnsNames: ['sluice-webhook.sluice-system.svc'],
  ipAddresses: ['127.0.0.1'],
  caValidityDays: 3650,
  certValidityDays: 30,
  renewFraction: 1 / 3,
};

void describe('certificates', () => {
  const bundle = renewBundle(undefined, 'ca', policy, now);

  void test('a CA and a serving certificate it signed, with the SANs asked for', () => {
    const ca = new X509Certificate(bundle.caCert);
    const cert = new X509Certificate(bundle.cert);
    assert.equal(ca.ca, true);
    assert.equal(cert.ca, false);
    assert.ok(cert.checkIssued(ca));
    assert.ok(cert.verify(ca.publicKey));
    assert.equal(cert.checkHost('sluice-webhook.sluice-system.svc'), 'sluice-webhook.sluice-system.svc');
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.checkHost('other.svc'), undefined);
    assert.match(cert.keyUsage?.join(',') ?? '', /1\.3\.6\.1\.5\.5\.7\.3\.1/, 'serverAuth');
    assert.equal(Date.parse(cert.validTo), now.getTime() + 30 * DAY);
    const serial = Buffer.from(cert.serialNumber, 'hex');
    assert.ok(serial[0]! >= 0x40 && serial[0]! < 0x80, 'positive, minimally encoded serial');
  });

  void test('renewal: none while fresh; the certificate near expiry or lacking a SAN; the CA near expiry', () => {
    assert.equal(renewalNeeded(bundle, policy, now), undefined);
    assert.equal(renewalNeeded(bundle, policy, new Date(now.getTime() + 21 * DAY))?.what, 'cert');
    assert.equal(renewalNeeded(bundle, { ...policy, dnsNames: ['x.svc'] }, now)?.what, 'cert');
    assert.equal(renewalNeeded(bundle, policy, new Date(now.getTime() + 2500 * DAY))?.what, 'ca');
    assert.equal(renewalNeeded({ ...bundle, cert: 'garbage' }, policy, now)?.what, 'ca');
    const other = createCa(now, 10);
    const foreign = issueServingCert(other, { dnsNames: policy.dnsNames, now, validityDays: 30 });
    assert.equal(
      renewalNeeded({ ...bundle, cert: foreign.certPem, key: foreign.keyPem }, policy, now)?.why,
      'not signed by the CA',
    );
    assert.equal(renewalNeeded({ ...bundle, key: foreign.keyPem }, policy, now)?.why, 'key does not match');
  });

  void test('renewing the certificate keeps the CA; renewing the CA keeps the old one trusted', () => {
    const later = new Date(now.getTime() + 25 * DAY);
    const renewed = renewBundle(bundle, 'cert', policy, later);
    assert.equal(renewed.caCert, bundle.caCert);
    assert.notEqual(renewed.cert, bundle.cert);
    assert.equal(renewalNeeded(renewed, policy, later), undefined);
    assert.equal(caBundlePem(renewed), bundle.caCert);

    const rotated = renewBundle(bundle, 'ca', policy, later);
    assert.notEqual(rotated.caCert, bundle.caCert);
    assert.equal(rotated.previousCaCert, bundle.caCert);
    assert.equal(caBundlePem(rotated).match(/BEGIN CERTIFICATE/g)?.length, 2);
  });
});
