/**
 * A real Kubernetes control plane started the way controller-runtime's envtest does: etcd and
 * kube-apiserver on 127.0.0.1, no scheduler, controller-manager or kubelet (pods stay Pending,
 * but admitted and mutated objects are stored and can be read back).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { binPath } from './bin.ts';
import { httpStatus } from './http.ts';
import { createCA, createKeyPair, issueCert } from './pki.ts';
import type { CertFiles } from './pki.ts';
import { freePort } from './ports.ts';
import { spawnLogged, waitUntil } from './proc.ts';
import { makeTempDir, removeTempDir } from './tempdir.ts';
import type { Proc } from './proc.ts';

/** A kubeconfig on disk and loaded. */
export interface KubeIdentity {
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
}

/** A running control plane; see {@link startControlPlane}. */
export interface ControlPlane extends KubeIdentity {
  /** https://127.0.0.1:PORT of kube-apiserver. */
  readonly server: string;
  /** The CA that signed the serving cert and every client cert (also usable for webhooks). */
  readonly ca: CertFiles;
  /** The temp dir holding certs, etcd data, kubeconfigs and logs (removed by stop()). */
  readonly dir: string;
  /** Log files of the two processes. */
  readonly logs: { etcd: string; apiserver: string };
  /**
   * A kubeconfig for a least-privilege identity: a client cert signed by the cluster CA with
   * CN=`user` and O=`groups`. It has no rights until RBAC grants them.
   */
  kubeconfigFor(user: string, groups?: string[]): KubeIdentity;
  /** Stops kube-apiserver then etcd and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** Options for {@link startControlPlane}. */
export interface ControlPlaneOptions {
  /** Test-bed cache root (see bin.ts); default ~/.cache/sluice. */
  cacheDir?: string;
  /** Bound on the wait for etcd and kube-apiserver to be ready; default 120 s. */
  readyTimeoutMs?: number;
  /** Extra kube-apiserver flags (e.g. '--feature-gates=...'). */
  apiserverArgs?: string[];
}

/** The admin identity: in system:masters, so RBAC allows it everything. */
const ADMIN_USER = 'sluice-testbed-admin';

/** Writes a kubeconfig with embedded credentials; returns it loaded. */
export function writeKubeconfig(
  path: string,
  server: string,
  caPem: string,
  client: CertFiles,
  user: string,
): KubeIdentity {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'testbed', cluster: { server, 'certificate-authority-data': b64(caPem) } }],
    users: [
      {
        name: user,
        user: { 'client-certificate-data': b64(client.cert), 'client-key-data': b64(client.key) },
      },
    ],
    contexts: [{ name: 'testbed', context: { cluster: 'testbed', user, namespace: 'default' } }],
    'current-context': 'testbed',
  };
  writeFileSync(path, stringify(doc), { mode: 0o600 });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(path);
  return { kubeconfigPath: path, kubeConfig };
}

/** Status of GET `url` over TLS with the given client cert, or 0 on error. */
function httpsStatus(url: string, ca: string, client: CertFiles, timeoutMs = 3000): Promise<number> {
  return new Promise((resolve) => {
    const req = request(
      url,
      { method: 'GET', agent: false, timeout: timeoutMs, ca, cert: client.cert, key: client.key },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(0));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

/**
 * Starts etcd (--unsafe-no-fsync, temp data dir) and kube-apiserver (RBAC, generated certs,
 * ServiceAccount admission disabled since no controller-manager creates default service
 * accounts) on dynamic ports, writes an admin kubeconfig, and resolves once /readyz is 200 and
 * the `default` namespace exists. Throws with the failing process's log tail.
 */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      // A port from freePort() can be taken by another process before etcd/apiserver binds it.
      if (attempt >= 3 || !/address already in use/i.test(String(err))) throw err;
    }
  }
}

async function startOnce(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const etcdBin = binPath('etcd', { cacheDir: opts.cacheDir });
  const apiBin = binPath('kube-apiserver', { cacheDir: opts.cacheDir });
  const timeoutMs = opts.readyTimeoutMs ?? 120_000;
  const dir = makeTempDir('sluice-kube-');
  const pki = join(dir, 'pki');
  mkdirSync(pki);
  let etcd: Proc | undefined;
  let api: Proc | undefined;
  let stopped = false;
  const stopAll = async (): Promise<void> => {
    stopped = true;
    await api?.stop('SIGTERM', 5000);
    await etcd?.stop('SIGTERM', 5000);
    removeTempDir(dir);
  };

  try {
    const [clientPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const server = `https://127.0.0.1:${apiPort}`;
    const ca = createCA(pki, 'sluice-testbed');
    const serving = issueCert(
      pki,
      ca,
      {
        commonName: 'kube-apiserver',
        ips: ['127.0.0.1', '10.0.0.1'],
        dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'],
        usage: 'server',
      },
      'apiserver',
    );
    const admin = issueCert(
      pki,
      ca,
      { commonName: ADMIN_USER, organizations: ['system:masters'], usage: 'client' },
      'admin',
    );
    const sa = createKeyPair(pki, 'service-account');

    const etcdUrl = `http://127.0.0.1:${clientPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const env = { HOME: dir, PATH: '/usr/bin:/bin' };
    etcd = spawnLogged(
      etcdBin,
      [
        '--name=testbed',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=testbed=${peerUrl}`,
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      join(dir, 'etcd.log'),
      { env },
    );
    const etcdProc = etcd;
    await waitUntil('etcd /health', async () => (await httpStatus(`${etcdUrl}/health`)) === 200, {
      timeoutMs,
      dead: () => etcdProc.exited,
      detail: () => etcdProc.tail(),
    });

    api = spawnLogged(
      apiBin,
      [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--cert-dir=${join(dir, 'apiserver-certs')}`,
        `--tls-cert-file=${serving.certPath}`,
        `--tls-private-key-file=${serving.keyPath}`,
        `--client-ca-file=${ca.certPath}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        `--service-account-issuer=${server}`,
        `--service-account-key-file=${sa.pubPath}`,
        `--service-account-signing-key-file=${sa.keyPath}`,
        '--authorization-mode=RBAC',
        '--allow-privileged=true',
        '--disable-admission-plugins=ServiceAccount',
        '--v=1',
        ...(opts.apiserverArgs ?? []),
      ],
      join(dir, 'apiserver.log'),
      { env },
    );
    const apiProc = api;
    const wait = (what: string, path: string): Promise<void> =>
      waitUntil(what, async () => (await httpsStatus(`${server}${path}`, ca.cert, admin)) === 200, {
        timeoutMs,
        intervalMs: 300,
        dead: () => apiProc.exited,
        detail: () => apiProc.tail(),
      });
    await wait('kube-apiserver /readyz', '/readyz');
    await wait('kube-apiserver namespace default', '/api/v1/namespaces/default');

    const adminId = writeKubeconfig(join(dir, 'admin.kubeconfig'), server, ca.cert, admin, ADMIN_USER);
    return {
      ...adminId,
      server,
      ca,
      dir,
      logs: { etcd: etcdProc.logPath, apiserver: apiProc.logPath },
      kubeconfigFor(user: string, groups: string[] = []) {
        if (stopped) throw new Error('control plane already stopped');
        const file = `user-${user.replace(/[^A-Za-z0-9_.-]/g, '_')}-${Date.now().toString(36)}`;
        const cert = issueCert(pki, ca, { commonName: user, organizations: groups, usage: 'client' }, file);
        return writeKubeconfig(join(dir, `${file}.kubeconfig`), server, ca.cert, cert, user);
      },
      async stop() {
        if (stopped) return;
        await stopAll();
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
