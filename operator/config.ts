/**
 * The operator's configuration, parsed and validated once at the edge (`sluice operator`):
 * flags (as charts/sluice/templates/_operator-args.tpl renders them) plus the pod's own name and
 * namespace (downward API env, passed in by the CLI). Nothing below reads flags or env.
 */
import { randomBytes } from 'node:crypto';
import { ControllerError } from './controller/errors.ts';
import { LOG_LEVELS, resolveInjectorConfig, type InjectorConfig, type LogLevel } from './webhook/config.ts';

/** How the webhook gets its serving certificate. */
export type OperatorTls =
  { mode: 'self-signed'; secretName: string } | { mode: 'cert-manager'; certDir: string };

/** Everything `sluice operator` runs with. Durations in ms. */
export interface OperatorConfig {
  /** The operator's namespace (Lease, TLS Secret; never injected). */
  namespace: string;
  /** This replica's Lease holder identity: pod name + random suffix (a restarted pod is a new holder). */
  identity: string;
  logLevel: LogLevel;
  /** Explicit kubeconfig; unset = in-cluster or the default kubeconfig. */
  kubeconfig?: string;
  ports: { webhook: number; health: number; metrics: number };
  leaderElection: {
    enabled: boolean;
    leaseName: string;
    leaseDurationMs: number;
    renewDeadlineMs: number;
    retryPeriodMs: number;
  };
  controller: {
    resyncPeriodMs: number;
    workers: number;
    stsDurationSeconds: number;
    stsRenewFraction: number;
  };
  webhook: {
    configName: string;
    serviceName: string;
    /** Extra IP SANs of the self-signed certificate (a webhook reached by URL, e.g. 127.0.0.1). */
    ipSans: string[];
    tls: OperatorTls;
    injector: InjectorConfig;
  };
}

/** Flag values as commander hands them over (strings; unset = undefined). */
export interface RawOperatorOptions {
  logLevel?: string;
  kubeconfig?: string;
  webhookPort?: string;
  healthPort?: string;
  metricsPort?: string;
  webhookConfigName?: string;
  webhookService?: string;
  webhookIpSans?: string;
  tlsMode?: string;
  tlsSecret?: string;
  tlsCertDir?: string;
  leaderElect?: string;
  leaderElectionLease?: string;
  leaderElectionLeaseDuration?: string;
  leaderElectionRenewDeadline?: string;
  leaderElectionRetryPeriod?: string;
  resyncPeriod?: string;
  workers?: string;
  stsDuration?: string;
  sidecarImage?: string;
  sidecarImagePullPolicy?: string;
  sidecarLogLevel?: string;
  sidecarNodeOptions?: string;
  sidecarCpuRequest?: string;
  sidecarMemoryRequest?: string;
  sidecarCpuLimit?: string;
  sidecarMemoryLimit?: string;
  hostNetwork?: string;
  excludeNamespaces?: string;
  namespace?: string;
}

/** The pod's identity from the downward API (POD_NAME, POD_NAMESPACE), read by the CLI. */
export interface PodEnv {
  podName?: string;
  podNamespace?: string;
}

const fail = (field: string, why: string): never => {
  throw new ControllerError('InvalidConfig', `operator config ${field}: ${why}`, false);
};

/** "500ms", "15s", "2m", "1h" (or a plain number of seconds) → ms. */
export function parseDuration(field: string, v: string): number {
  const s = v.trim();
  // A bare number is seconds; otherwise a Go duration (what the chart's schema lets through):
  // parts of a number and a unit, 1m30s and 2h45m included.
  if (/^\d+(?:\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  if (!GO_DURATION.test(s)) return fail(field, `"${v}" is not a duration (e.g. 500ms, 15s, 2m, 1h30m)`);
  let ms = 0;
  for (const [, n, unit] of s.matchAll(DURATION_PART)) ms += Number(n) * DURATION_UNIT_MS[unit!]!;
  return Math.round(ms);
}

const GO_DURATION = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
const DURATION_UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

function port(field: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) fail(field, `"${v}" is not a port`);
  return n;
}

function bool(field: string, v: string | undefined, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (v === 'true') return true;
  if (v === 'false') return false;
  return fail(field, `"${v}" is not true or false`);
}

/** Validates flags and env into an {@link OperatorConfig}; throws ControllerError InvalidConfig naming the flag. */
export function parseOperatorConfig(raw: RawOperatorOptions, env: PodEnv = {}): OperatorConfig {
  const namespace = raw.namespace ?? env.podNamespace ?? 'sluice-system';
  const logLevel = (raw.logLevel ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) fail('--log-level', `one of ${LOG_LEVELS.join(', ')}`);
  const leaseDurationMs = parseDuration(
    '--leader-election-lease-duration',
    raw.leaderElectionLeaseDuration ?? '15s',
  );
  const renewDeadlineMs = parseDuration(
    '--leader-election-renew-deadline',
    raw.leaderElectionRenewDeadline ?? '10s',
  );
  const retryPeriodMs = parseDuration(
    '--leader-election-retry-period',
    raw.leaderElectionRetryPeriod ?? '2s',
  );
  if (!(retryPeriodMs > 0 && renewDeadlineMs > retryPeriodMs && leaseDurationMs > renewDeadlineMs)) {
    fail('--leader-election-*', 'need lease-duration > renew-deadline > retry-period > 0');
  }
  const resyncPeriodMs = parseDuration('--resync-period', raw.resyncPeriod ?? '10m');
  if (resyncPeriodMs < 1000) fail('--resync-period', 'at least 1s');
  const workers = Number(raw.workers ?? '4');
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) fail('--workers', 'an integer 1-64');
  const stsDurationSeconds = Math.round(parseDuration('--sts-duration', raw.stsDuration ?? '1h') / 1000);
  if (stsDurationSeconds < 900 || stsDurationSeconds > 43200)
    fail('--sts-duration', 'between 15m and 12h (STS limits)');

  const tlsMode = raw.tlsMode ?? 'self-signed';
  let tls: OperatorTls;
  if (tlsMode === 'self-signed')
    tls = { mode: 'self-signed', secretName: raw.tlsSecret ?? 'sluice-webhook-tls' };
  else if (tlsMode === 'cert-manager')
    tls = {
      mode: 'cert-manager',
      certDir: raw.tlsCertDir ?? fail('--tls-cert-dir', 'required with --tls-mode=cert-manager'),
    };
  else return fail('--tls-mode', 'self-signed or cert-manager');

  const resources: InjectorConfig['resources'] = { requests: {}, limits: {} };
  if (raw.sidecarCpuRequest) resources.requests.cpu = raw.sidecarCpuRequest;
  if (raw.sidecarMemoryRequest) resources.requests.memory = raw.sidecarMemoryRequest;
  if (raw.sidecarCpuLimit) resources.limits.cpu = raw.sidecarCpuLimit;
  if (raw.sidecarMemoryLimit) resources.limits.memory = raw.sidecarMemoryLimit;
  const injectorOverrides: Partial<InjectorConfig> = { operatorNamespace: namespace };
  if (raw.sidecarImage) injectorOverrides.image = raw.sidecarImage;
  if (raw.sidecarImagePullPolicy)
    injectorOverrides.imagePullPolicy = raw.sidecarImagePullPolicy as InjectorConfig['imagePullPolicy'];
  if (raw.sidecarLogLevel) injectorOverrides.logLevel = raw.sidecarLogLevel as LogLevel;
  // Set, even to "", it replaces the default (empty: the sidecar gets no NODE_OPTIONS).
  if (raw.sidecarNodeOptions !== undefined) injectorOverrides.nodeOptions = raw.sidecarNodeOptions.trim();
  if (Object.keys(resources.requests).length + Object.keys(resources.limits).length > 0)
    injectorOverrides.resources = resources;
  if (raw.hostNetwork) injectorOverrides.hostNetwork = raw.hostNetwork as InjectorConfig['hostNetwork'];
  if (raw.excludeNamespaces !== undefined)
    injectorOverrides.excludedNamespaces = raw.excludeNamespaces
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  let injector: InjectorConfig;
  try {
    injector = resolveInjectorConfig(injectorOverrides);
  } catch (err) {
    return fail('sidecar', (err as Error).message);
  }

  const podName = env.podName ?? 'sluice-operator';
  return {
    namespace,
    identity: `${podName}_${randomBytes(4).toString('hex')}`,
    logLevel,
    ...(raw.kubeconfig ? { kubeconfig: raw.kubeconfig } : {}),
    ports: {
      webhook: port('--webhook-port', raw.webhookPort, 9443),
      health: port('--health-port', raw.healthPort, 8081),
      metrics: port('--metrics-port', raw.metricsPort, 8080),
    },
    leaderElection: {
      enabled: bool('--leader-elect', raw.leaderElect, true),
      leaseName: raw.leaderElectionLease ?? 'sluice-operator-leader',
      leaseDurationMs,
      renewDeadlineMs,
      retryPeriodMs,
    },
    controller: { resyncPeriodMs, workers, stsDurationSeconds, stsRenewFraction: 2 / 3 },
    webhook: {
      configName: raw.webhookConfigName ?? 'sluice-injector',
      serviceName: raw.webhookService ?? 'sluice-webhook',
      ipSans: (raw.webhookIpSans ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      tls,
      injector,
    },
  };
}
