/**
 * The webhook's HTTPS server, started by `sluice operator` on every replica (all replicas
 * serve admissions; only the controller needs the leader Lease).
 *
 * Startup: resolve the certificate source (self-managed Secret, mounted files, or given), then
 * detect native sidecar support from /version (re-detected every `versionRefreshMs`, so an
 * API server upgrade switches new pods to native sidecars without a restart), then listen.
 * /readyz answers 200 once a version detection has succeeded (or it was fixed by options).
 */
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { WEBHOOK_CERT_SECRET, WEBHOOK_PORT } from '../contract.ts';
import type { CertificateSource, ServingCertificate } from '../tls/source.ts';
import { startMountedCertificateSource, startSelfManagedCertificateSource } from '../tls/source.ts';
import type { InjectorConfig } from './config.ts';
import { createAdmissionHandler } from './handler.ts';
import { randomIdentity } from './identity.ts';
import type { IdentitySource } from './identity.ts';
import { createWebhookMetrics } from './metrics.ts';
import { cachedNamespaceLookup, kubeIdentityLookup, kubeNamespaceLookup } from './namespaces.ts';
import type { IdentityInUse, NamespaceLabelLookup } from './namespaces.ts';
import { kubeVersionFetcher, supportsNativeSidecars } from './version.ts';
import type { KubeVersion } from './version.ts';

/** Where the serving certificate comes from. */
export type WebhookTlsOptions =
  | {
      /** The operator's own CA in a Secret shared by all replicas; keeps the caBundle current. */
      mode: 'self-managed';
      /** Secret name in the operator namespace; default WEBHOOK_CERT_SECRET. */
      secretName?: string;
      /** SAN DNS names, e.g. <service>.<namespace>.svc. */
      dnsNames: readonly string[];
      ipAddresses?: readonly string[];
      /** MutatingWebhookConfiguration to keep the caBundle of; unset = leave it alone. */
      webhookConfigurationName?: string;
      refreshMs?: number;
    }
  | { mode: 'mounted'; certFile: string; keyFile: string; caFile?: string; pollMs?: number }
  | { mode: 'source'; source: CertificateSource };

export interface WebhookServerOptions {
  injector: InjectorConfig;
  tls: WebhookTlsOptions;
  /** API access for namespace labels, /version and the self-managed certificate. */
  kubeConfig?: KubeConfig;
  /** Default WEBHOOK_PORT (9443); 0 picks a free port (tests). */
  port?: number;
  /** Default all interfaces. */
  host?: string;
  /** Override namespace lookups (default: the API via kubeConfig, cached). */
  namespaceLabels?: NamespaceLabelLookup;
  /** Override the check for pods already holding an identity (default: the API via kubeConfig). */
  identityInUse?: IdentityInUse;
  namespaceCacheTtlMs?: number;
  /** Override /version (default: the API via kubeConfig). */
  serverVersion?: () => Promise<KubeVersion>;
  /** Fix native sidecar support instead of detecting it. */
  nativeSidecars?: boolean;
  /** Default 5 minutes. */
  versionRefreshMs?: number;
  newIdentity?: IdentitySource;
  logger?: Logger;
  /** The operator's metrics registry; default a private one. */
  registry?: Registry;
}

export interface WebhookServer {
  /** The port actually bound. */
  readonly port: number;
  /** The certificate being served (its `ca` is what clients should trust). */
  certificate(): ServingCertificate;
  /**
   * A version detection has succeeded (or native sidecars were fixed by options): before it,
   * every pod would get the legacy sidecar, for good.
   */
  ready(): boolean;
  /** Stops listening, drops keep-alive connections, stops timers and the certificate source
   * it created (a `source` passed in stays the caller's to close). */
  close(): Promise<void>;
}

/** Starts the webhook; resolves once it listens. See the module comment for the order. */
export async function startWebhookServer(options: WebhookServerOptions): Promise<WebhookServer> {
  const logger = options.logger ?? pino({ name: 'sluice-webhook' });
  const metrics = createWebhookMetrics(options.registry);
  const kc = options.kubeConfig;
  const need = (what: string): KubeConfig => {
    if (!kc) throw new TypeError(`startWebhookServer: kubeConfig is required for ${what}`);
    return kc;
  };

  const fetchNamespace = options.namespaceLabels ?? kubeNamespaceLookup(need('namespace lookups'));
  const namespaceLabels = cachedNamespaceLookup(fetchNamespace, {
    ...(options.namespaceCacheTtlMs !== undefined && { ttlMs: options.namespaceCacheTtlMs }),
    onLookup: (result) => metrics.namespaceLookupsTotal.inc({ result }),
  });

  // Asked only for pods that arrive injected (rare): the API client is made then, so a server
  // without API access (tests) works until one comes.
  let kubeIdentities: IdentityInUse | undefined;
  const identityInUse: IdentityInUse =
    options.identityInUse ??
    ((ns, id) => (kubeIdentities ??= kubeIdentityLookup(need('identity lookups')))(ns, id));

  let native = options.nativeSidecars ?? false;
  let detected = options.nativeSidecars !== undefined;
  metrics.nativeSidecars.set(native ? 1 : 0);
  let versionTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  if (options.nativeSidecars === undefined) {
    const fetchVersion = options.serverVersion ?? kubeVersionFetcher(need('version detection'));
    const detect = async (): Promise<void> => {
      try {
        const v = await fetchVersion();
        const next = supportsNativeSidecars(v);
        if (next !== native || !detected)
          logger.info(
            { version: v.gitVersion ?? `${v.major}.${v.minor}`, nativeSidecars: next },
            'API server version',
          );
        native = next;
        detected = true;
        metrics.nativeSidecars.set(native ? 1 : 0);
      } catch (err) {
        // Keep the last answer; before the first one, legacy sidecars are the safe guess.
        logger.warn({ err }, 'API server version detection failed; will retry');
      }
    };
    await detect();
    const schedule = (): void => {
      if (stopped) return;
      // Retry quickly until the first answer, then at the refresh interval.
      versionTimer = setTimeout(
        () => void detect().finally(schedule),
        detected ? (options.versionRefreshMs ?? 300_000) : 5_000,
      );
      versionTimer.unref();
    };
    schedule();
  }

  const source = await certificateSource(options, logger, need);
  const initial = source.current();
  const server: Server = createServer({ cert: initial.cert, key: initial.key, minVersion: 'TLSv1.2' });
  const unsubscribe = source.onChange((c) => {
    try {
      server.setSecureContext({ cert: c.cert, key: c.key, minVersion: 'TLSv1.2' });
    } catch (err) {
      // The previous context stays in place: keep serving it rather than stop the operator.
      logger.error({ err }, 'webhook serving certificate rejected; serving the previous one');
      return;
    }
    metrics.certificateReloadsTotal.inc();
    logger.info('webhook serving certificate reloaded');
  });
  server.on(
    'request',
    createAdmissionHandler({
      config: options.injector,
      nativeSidecars: () => native,
      ready: () => detected,
      namespaceLabels,
      identityInUse,
      newIdentity: options.newIdentity ?? randomIdentity,
      metrics,
      logger,
    }),
  );
  // The API server's webhook timeout is at most 30 s; nothing legitimate takes longer.
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 60_000;

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? WEBHOOK_PORT, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    unsubscribe();
    stopped = true;
    clearTimeout(versionTimer);
    if (options.tls.mode !== 'source') await source.close();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  logger.info({ port, nativeSidecars: native }, 'webhook listening');

  let closing: Promise<void> | undefined;
  return {
    port,
    certificate: () => source.current(),
    ready: () => detected,
    close: () =>
      (closing ??= (async () => {
        stopped = true;
        clearTimeout(versionTimer);
        unsubscribe();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        if (options.tls.mode !== 'source') await source.close();
      })()),
  };
}

async function certificateSource(
  options: WebhookServerOptions,
  logger: Logger,
  need: (what: string) => KubeConfig,
): Promise<CertificateSource> {
  const tls = options.tls;
  switch (tls.mode) {
    case 'source':
      return tls.source;
    case 'mounted':
      return startMountedCertificateSource({ ...tls, logger });
    case 'self-managed':
      return startSelfManagedCertificateSource({
        kubeConfig: need('the self-managed certificate'),
        namespace: options.injector.operatorNamespace,
        secretName: tls.secretName ?? WEBHOOK_CERT_SECRET,
        dnsNames: tls.dnsNames,
        ...(tls.ipAddresses && { ipAddresses: tls.ipAddresses }),
        ...(tls.webhookConfigurationName && { webhookConfigurationName: tls.webhookConfigurationName }),
        ...(tls.refreshMs !== undefined && { refreshMs: tls.refreshMs }),
        logger,
      });
  }
}
