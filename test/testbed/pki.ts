/**
 * Throwaway PKI for the test bed (control plane, webhooks) using the openssl CLI: node:crypto can
 * read X.509 certificates but cannot issue them. ECDSA P-256 keys keep generation fast.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A key pair and certificate on disk (PEM), with the PEM text loaded. */
export interface CertFiles {
  certPath: string;
  keyPath: string;
  cert: string;
  key: string;
}

/** Subject and extensions of an issued certificate. */
export interface CertRequest {
  /** Subject common name (a Kubernetes user name for client certs). */
  commonName: string;
  /** Subject organizations (Kubernetes groups for client certs). */
  organizations?: string[];
  /** IP subjectAltNames for serving certs, e.g. ['127.0.0.1']. */
  ips?: string[];
  /** DNS subjectAltNames for serving certs. */
  dnsNames?: string[];
  /** 'server' (serverAuth) or 'client' (clientAuth); default both. */
  usage?: 'server' | 'client' | 'both';
  /** Validity in days; default 2. */
  days?: number;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(
      `openssl ${args[0]} failed (is the openssl CLI installed? scripts/testbed/debian.sh): ${stderr || String(err)}`,
    );
  }
}

/** A safe file stem from a name such as "system:admin". */
function stem(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '_');
}

function load(certPath: string, keyPath: string): CertFiles {
  return { certPath, keyPath, cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8') };
}

/** Writes a new self-signed CA (`<name>-ca.crt`, `<name>-ca.key`) into `dir`. */
export function createCA(dir: string, name = 'sluice-testbed'): CertFiles {
  const keyPath = join(dir, `${stem(name)}-ca.key`);
  const certPath = join(dir, `${stem(name)}-ca.crt`);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyPath], dir);
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      keyPath,
      '-sha256',
      '-days',
      '2',
      '-subj',
      `/CN=${name}-ca`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
      '-out',
      certPath,
    ],
    dir,
  );
  return load(certPath, keyPath);
}

let serial = 0;

/**
 * Issues a certificate signed by `ca` into `dir` (`<file>.crt`, `<file>.key`). Organizations
 * become O= entries, which Kubernetes reads as the user's groups.
 */
export function issueCert(
  dir: string,
  ca: CertFiles,
  req: CertRequest,
  file = stem(req.commonName),
): CertFiles {
  const keyPath = join(dir, `${file}.key`);
  const certPath = join(dir, `${file}.crt`);
  const csrPath = join(dir, `${file}.csr`);
  const extPath = join(dir, `${file}.ext`);
  const subj = ['', ...(req.organizations ?? []).map((o) => `O=${o}`), `CN=${req.commonName}`].join('/');
  const usage = req.usage ?? 'both';
  const eku = usage === 'server' ? 'serverAuth' : usage === 'client' ? 'clientAuth' : 'serverAuth,clientAuth';
  const sans = [...(req.ips ?? []).map((ip) => `IP:${ip}`), ...(req.dnsNames ?? []).map((d) => `DNS:${d}`)];
  const ext = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${eku}`,
    ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
  ];
  writeFileSync(extPath, ext.join('\n') + '\n');
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyPath], dir);
  openssl(['req', '-new', '-key', keyPath, '-subj', subj, '-out', csrPath], dir);
  serial += 1;
  const serialHex = `${Date.now().toString(16)}${process.pid.toString(16)}${serial.toString(16).padStart(4, '0')}`;
  openssl(
    [
      'x509',
      '-req',
      '-in',
      csrPath,
      '-CA',
      ca.certPath,
      '-CAkey',
      ca.keyPath,
      '-set_serial',
      `0x${serialHex}`,
      '-days',
      String(req.days ?? 2),
      '-sha256',
      '-extfile',
      extPath,
      '-out',
      certPath,
    ],
    dir,
  );
  return load(certPath, keyPath);
}

/** Writes a new ECDSA P-256 private key (PKCS#8 PEM) and its public key; returns both paths. */
export function createKeyPair(dir: string, name: string): { keyPath: string; pubPath: string } {
  const keyPath = join(dir, `${stem(name)}.key`);
  const pubPath = join(dir, `${stem(name)}.pub`);
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyPath], dir);
  openssl(['pkey', '-in', keyPath, '-pubout', '-out', pubPath], dir);
  return { keyPath, pubPath };
}
