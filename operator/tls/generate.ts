/**
 * The operator's own CA and webhook serving certificate, made in-process.
 *
 * node:crypto makes and verifies keys and parses certificates but cannot *issue* X.509; the
 * operator image has no openssl. node-forge (Digital Bazaar, no dependencies) builds the
 * certificates; key generation still runs in node:crypto's native code (forge delegates to it),
 * so a 2048-bit RSA key takes tens of milliseconds. RSA rather than ECDSA because forge's X.509
 * writer only signs with RSA, and every API server accepts it.
 */
import { randomBytes } from 'node:crypto';
import forge from 'node-forge';

/** A certificate and its private key, PEM. */
export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

export interface ServingCertOptions {
  /** DNS names for the SAN extension, e.g. "sluice-webhook.sluice-system.svc". First is the CN. */
  dnsNames: readonly string[];
  /** IP addresses for the SAN extension (tests reach the webhook on 127.0.0.1). */
  ipAddresses?: readonly string[];
  now: Date;
  validityDays: number;
}

const DAY_MS = 86_400_000;

/** A self-signed CA valid from `now` (minus an hour of clock skew) for `validityDays`. */
export function createCa(now: Date, validityDays: number, commonName = 'sluice-webhook-ca'): KeyPairPem {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
  const cert = baseCert(keys.publicKey, now, validityDays);
  const name = [{ name: 'commonName', value: commonName }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

/** A server certificate for `dnsNames`/`ipAddresses`, signed by `ca`. */
export function issueServingCert(ca: KeyPairPem, opts: ServingCertOptions): KeyPairPem {
  if (opts.dnsNames.length === 0 && (opts.ipAddresses?.length ?? 0) === 0) {
    throw new TypeError('issueServingCert: at least one DNS name or IP address');
  }
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
  const cert = baseCert(keys.publicKey, opts.now, opts.validityDays);
  cert.setSubject([{ name: 'commonName', value: opts.dnsNames[0] ?? opts.ipAddresses![0]! }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [
        ...opts.dnsNames.map((value) => ({ type: 2, value })),
        ...(opts.ipAddresses ?? []).map((ip) => ({ type: 7, ip })),
      ],
    },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

function baseCert(publicKey: forge.pki.PublicKey, now: Date, validityDays: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // Positive serial (RFC 5280 §4.1.2.2): top bit clear so DER does not read it negative, next
  // bit set so the first byte is never 0 — Go's encoding/asn1 (the API server) rejects
  // non-minimal integers.
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  cert.serialNumber = serial.toString('hex');
  cert.validity.notBefore = new Date(now.getTime() - 3_600_000);
  cert.validity.notAfter = new Date(now.getTime() + validityDays * DAY_MS);
  return cert;
}
