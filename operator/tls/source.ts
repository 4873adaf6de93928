/**
 * Where the webhook's serving certificate comes from, behind one interface the HTTPS server
 * subscribes to, so a renewed certificate is served without a restart (tls.Server
 * setSecureContext):
 *  - self-managed: the shared Secret (./secret.ts), re-read periodically so a renewal by
 *    another replica reaches this one, with the caBundle kept current (./ca-bundle.ts);
 *  - mounted: PEM files (cert-manager's Secret as a volume), polled for changes — kubelet swaps
 *    a symlink, which fs.watch misses on some filesystems;
 *  - static: fixed PEM (tests, benchmarks).
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { AdmissionregistrationV1Api, CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { caBundlePem, DEFAULT_CERT_POLICY } from './bundle.ts';
import type { CertPolicy } from './bundle.ts';
import { syncCaBundle } from './ca-bundle.ts';
import { ensureCertSecret } from './secret.ts';

/** The PEM a server needs; `ca` is informational (what clients should trust). */
export interface ServingCertificate {
  cert: string;
  key: string;
  ca?: string;
}

export interface CertificateSource {
  /** The certificate to serve now. */
  current(): ServingCertificate;
  /** Calls `listener` after each change; returns an unsubscribe function. */
  onChange(listener: (cert: ServingCertificate) => void): () => void;
  close(): Promise<void>;
}

/** A source that never changes. */
export function staticCertificateSource(cert: ServingCertificate): CertificateSource {
  return { current: () => cert, onChange: () => () => {}, close: () => Promise.resolve() };
}

class Emitter {
  #value: ServingCertificate;
  readonly #listeners = new Set<(c: ServingCertificate) => void>();
  readonly #logger: Logger | undefined;
  constructor(value: ServingCertificate, logger?: Logger) {
    this.#value = value;
    this.#logger = logger;
  }
  get value(): ServingCertificate {
    return this.#value;
  }
  set(next: ServingCertificate): void {
    if (next.cert === this.#value.cert && next.key === this.#value.key) return;
    this.#value = next;
    for (const l of this.#listeners) {
      // A listener that throws must neither skip the others nor escape into a timer's promise,
      // where it would be an unhandled rejection that stops the operator.
      try {
        l(next);
      } catch (err) {
        this.#logger?.error({ err }, 'webhook certificate listener failed');
      }
    }
  }
  subscribe(l: (c: ServingCertificate) => void): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }
}

export interface MountedOptions {
  certFile: string;
  keyFile: string;
  caFile?: string;
  pollMs?: number;
  logger?: Logger;
}

/** Throws unless `key` is the private key of `cert` (what setSecureContext would reject). */
function checkKeyPair(cert: string, key: string): void {
  if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))) {
    throw new Error('tls.crt and tls.key do not match');
  }
}

/**
 * Serves the mounted files; a mismatched pair is skipped (the previous pair keeps being served
 * and the next poll tries again). Kubelet swaps the files with a symlink, so tls.crt and tls.key
 * can be read on opposite sides of a swap.
 */
export async function startMountedCertificateSource(opts: MountedOptions): Promise<CertificateSource> {
  const load = async (): Promise<ServingCertificate> => {
    const [cert, key, ca] = await Promise.all([
      readFile(opts.certFile, 'utf8'),
      readFile(opts.keyFile, 'utf8'),
      opts.caFile ? readFile(opts.caFile, 'utf8') : Promise.resolve(undefined),
    ]);
    checkKeyPair(cert, key);
    return { cert, key, ...(ca !== undefined && { ca }) };
  };
  const emitter = new Emitter(await load(), opts.logger);
  const timer = setInterval(() => {
    load().then(
      (c) => emitter.set(c),
      (err: Error) =>
        opts.logger?.warn({ err }, 'webhook certificate files unusable; serving the previous ones'),
    );
  }, opts.pollMs ?? 10_000);
  timer.unref();
  return {
    current: () => emitter.value,
    onChange: (l) => emitter.subscribe(l),
    close: () => {
      clearInterval(timer);
      return Promise.resolve();
    },
  };
}

export interface SelfManagedOptions {
  kubeConfig: KubeConfig;
  /** The operator's namespace, where the Secret lives. */
  namespace: string;
  secretName: string;
  /** MutatingWebhookConfiguration whose caBundle to keep current; unset = leave it alone. */
  webhookConfigurationName?: string;
  dnsNames: readonly string[];
  ipAddresses?: readonly string[];
  /** How often to re-read the Secret and the caBundle. */
  refreshMs?: number;
  policy?: Partial<Omit<CertPolicy, 'dnsNames' | 'ipAddresses'>>;
  logger?: Logger;
  now?: () => Date;
}

/**
 * Ensures the shared Secret (creating the CA and certificate if needed) before resolving, then
 * refreshes every `refreshMs`. Errors after start are logged and retried at the next refresh;
 * the last good certificate keeps being served.
 */
export async function startSelfManagedCertificateSource(
  opts: SelfManagedOptions,
): Promise<CertificateSource> {
  const core = opts.kubeConfig.makeApiClient(CoreV1Api);
  const admission = opts.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const policy: CertPolicy = {
    ...DEFAULT_CERT_POLICY,
    ...opts.policy,
    dnsNames: opts.dnsNames,
    ...(opts.ipAddresses && { ipAddresses: opts.ipAddresses }),
  };
  const refresh = async (): Promise<ServingCertificate> => {
    const r = await ensureCertSecret(core, opts.namespace, opts.secretName, policy, opts.now);
    if (r.action !== 'unchanged') {
      opts.logger?.info({ action: r.action, why: r.why, secret: opts.secretName }, 'webhook certificate');
    }
    const ca = caBundlePem(r.bundle);
    if (opts.webhookConfigurationName) {
      // A failed caBundle sync must not stop the server: the Secret is good, retry next time.
      const sync = await syncCaBundle(admission, opts.webhookConfigurationName, ca).catch((err: Error) => {
        opts.logger?.warn({ err }, 'webhook caBundle sync failed; will retry');
        return 'failed';
      });
      if (sync !== 'unchanged')
        opts.logger?.info({ sync, config: opts.webhookConfigurationName }, 'webhook caBundle');
    }
    return { cert: r.bundle.cert, key: r.bundle.key, ca };
  };
  const emitter = new Emitter(await refresh(), opts.logger);
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    running ??= refresh()
      .then((c) => emitter.set(c))
      .catch((err: Error) => opts.logger?.warn({ err }, 'webhook certificate refresh failed; will retry'))
      .finally(() => (running = undefined));
  }, opts.refreshMs ?? 60_000);
  timer.unref();
  return {
    current: () => emitter.value,
    onChange: (l) => emitter.subscribe(l),
    close: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
