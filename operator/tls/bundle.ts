/**
 * The webhook's certificate material as stored in its Secret, and the pure checks that decide
 * whether it is still good. Parsing uses node:crypto's X509Certificate.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createCa, issueServingCert } from './generate.ts';

/** Everything one Secret holds; PEM strings. */
export interface CertBundle {
  caCert: string;
  caKey: string;
  cert: string;
  key: string;
  /** The CA this one replaced, kept in the caBundle while it is valid so rotation is seamless. */
  previousCaCert?: string;
}

/** Secret keys: kubernetes.io/tls's tls.crt/tls.key plus the CA (cert-manager's ca.crt). */
export const SecretKeys = {
  cert: 'tls.crt',
  key: 'tls.key',
  caCert: 'ca.crt',
  caKey: 'ca.key',
  previousCaCert: 'ca-previous.crt',
} as const;

export interface CertPolicy {
  dnsNames: readonly string[];
  ipAddresses?: readonly string[];
  caValidityDays: number;
  certValidityDays: number;
  /** Renew when less than this fraction of the validity is left (cert-manager uses 1/3). */
  renewFraction: number;
}

export const DEFAULT_CERT_POLICY: Omit<CertPolicy, 'dnsNames'> = {
  caValidityDays: 3650,
  certValidityDays: 365,
  renewFraction: 1 / 3,
};

/**
 * Why `bundle` must be (partly) replaced at `now`, or undefined if it is good: "ca" = new CA
 * and certificate, "cert" = new serving certificate from the same CA.
 */
export function renewalNeeded(
  bundle: CertBundle,
  policy: CertPolicy,
  now: Date,
): { what: 'ca' | 'cert'; why: string } | undefined {
  let ca: X509Certificate;
  let cert: X509Certificate;
  try {
    ca = new X509Certificate(bundle.caCert);
    cert = new X509Certificate(bundle.cert);
    createPrivateKey(bundle.caKey);
    if (!cert.checkPrivateKey(createPrivateKey(bundle.key)))
      return { what: 'cert', why: 'key does not match' };
  } catch (err) {
    return { what: 'ca', why: `unreadable: ${(err as Error).message}` };
  }
  if (nearExpiry(ca, policy.renewFraction, now)) return { what: 'ca', why: `CA expires ${ca.validTo}` };
  if (!cert.verify(ca.publicKey)) return { what: 'cert', why: 'not signed by the CA' };
  if (nearExpiry(cert, policy.renewFraction, now)) return { what: 'cert', why: `expires ${cert.validTo}` };
  const sans = (cert.subjectAltName ?? '').split(', ');
  const want = [
    ...policy.dnsNames.map((n) => `DNS:${n}`),
    ...(policy.ipAddresses ?? []).map((ip) => `IP Address:${ip}`),
  ];
  const missing = want.filter((w) => !sans.includes(w));
  if (missing.length > 0) return { what: 'cert', why: `lacks ${missing.join(', ')}` };
  return undefined;
}

/** A renewed bundle: `what` decides whether the CA is kept. Keeps the old CA as previous. */
export function renewBundle(
  old: CertBundle | undefined,
  what: 'ca' | 'cert',
  policy: CertPolicy,
  now: Date,
): CertBundle {
  const ca =
    what === 'ca' || old === undefined
      ? createCa(now, policy.caValidityDays)
      : { certPem: old.caCert, keyPem: old.caKey };
  const serving = issueServingCert(ca, {
    dnsNames: policy.dnsNames,
    ...(policy.ipAddresses && { ipAddresses: policy.ipAddresses }),
    now,
    validityDays: policy.certValidityDays,
  });
  const previous = what === 'ca' && old && stillValid(old.caCert, now) ? old.caCert : old?.previousCaCert;
  return {
    caCert: ca.certPem,
    caKey: ca.keyPem,
    cert: serving.certPem,
    key: serving.keyPem,
    ...(previous !== undefined && stillValid(previous, now) && { previousCaCert: previous }),
  };
}

/** The PEM the API server should trust: the CA, plus the previous CA while it is valid. */
export function caBundlePem(bundle: CertBundle): string {
  return bundle.previousCaCert
    ? `${bundle.caCert.trimEnd()}\n${bundle.previousCaCert.trimEnd()}\n`
    : bundle.caCert;
}

function nearExpiry(cert: X509Certificate, fraction: number, now: Date): boolean {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  return now.getTime() >= to - (to - from) * fraction;
}

function stillValid(pem: string, now: Date): boolean {
  try {
    return Date.parse(new X509Certificate(pem).validTo) > now.getTime();
  } catch {
    return false;
  }
}
