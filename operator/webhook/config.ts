/**
 * What the injector needs from the operator's configuration, validated once at the edge
 * (`sluice operator`, `sluice inject`). Per-pod annotations override a few of these
 * (./annotations.ts); nothing else changes them.
 */
import { ADMIN_PORT, PROXY_PORT, SIDECAR_NODE_OPTIONS } from '../contract.ts';
import { parseQuantity } from './quantity.ts';

/** pino's levels; the sidecar's `--log-level` accepts these. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Container resources as Kubernetes quantities (strings), each optional. */
export interface SidecarResources {
  requests: { cpu?: string; memory?: string };
  limits: { cpu?: string; memory?: string };
}

export interface InjectorConfig {
  /** The operator's namespace: never injected (its pods would depend on themselves). */
  operatorNamespace: string;
  /** Further namespaces never injected (system namespaces by default). */
  excludedNamespaces: readonly string[];
  image: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /**
   * Overrides the image's entry point (`node dist/bin/sluice.js`); unset = the image's. The sidecar
   * runs `<entry point> proxy --policy … --listen …`.
   */
  command?: readonly string[];
  /** Executable used by the legacy-mode lifecycle hooks (the image is a Node image). */
  nodeBinary: string;
  /** The sidecar's NODE_OPTIONS (V8 flags); empty = not set. Default SIDECAR_NODE_OPTIONS. */
  nodeOptions: string;
  resources: SidecarResources;
  logLevel: LogLevel;
  /** Read-cache size (quantity) passed to the sidecar; unset = the proxy's default. */
  cacheSize?: string;
  /** The sidecar's S3 port on 127.0.0.1 (apps get AWS_ENDPOINT_URL_S3 with it). */
  proxyPort: number;
  /** The sidecar's admin port (probes, metrics), on every address of both families. */
  adminPort: number;
  /** AWS_REGION given to apps: SDKs need one to sign; the sidecar re-signs for the real store. */
  region: string;
  /**
   * hostNetwork pods share the node's 127.0.0.1, so anyone on the node could use the pod's
   * grants through the sidecar: "refuse" denies the pod, "skip" admits it uninjected.
   */
  hostNetwork: 'refuse' | 'skip';
  /** Legacy (non-native) sidecar: seconds its preStop waits so apps shut down first. */
  legacyShutdownDelaySeconds: number;
  /** Legacy sidecar: seconds its postStart waits for /readyz before the app containers start. */
  legacyStartupTimeoutSeconds: number;
}

/** Thrown at the edge for an invalid operator configuration; names the field. */
export class InjectorConfigError extends Error {
  readonly code = 'InvalidInjectorConfig';
}

/** The defaults, as the chart documents them. */
export function defaultInjectorConfig(): InjectorConfig {
  return {
    operatorNamespace: 'sluice-system',
    excludedNamespaces: ['kube-system', 'kube-public', 'kube-node-lease'],
    image: 'ghcr.io/sluice-dev/sluice:0.1.0',
    imagePullPolicy: 'IfNotPresent',
    nodeBinary: 'node',
    nodeOptions: SIDECAR_NODE_OPTIONS,
    resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
    logLevel: 'info',
    proxyPort: PROXY_PORT,
    adminPort: ADMIN_PORT,
    region: 'us-east-1',
    hostNetwork: 'refuse',
    legacyShutdownDelaySeconds: 10,
    legacyStartupTimeoutSeconds: 120,
  };
}

/**
 * Defaults overlaid with `overrides`, validated. Throws {@link InjectorConfigError} naming the
 * first bad field, so a misconfigured operator fails at start, not on the first pod.
 */
const PULL_POLICIES: readonly string[] = ['Always', 'IfNotPresent', 'Never'];

export function resolveInjectorConfig(overrides: Partial<InjectorConfig> = {}): InjectorConfig {
  const c: InjectorConfig = { ...defaultInjectorConfig(), ...overrides };
  const fail = (field: string, why: string): never => {
    throw new InjectorConfigError(`injector config ${field}: ${why}`);
  };
  if (!c.operatorNamespace) fail('operatorNamespace', 'required');
  if (!c.image) fail('image', 'required');
  if (c.command !== undefined && c.command.length === 0)
    fail('command', 'empty; leave unset for the image entry point');
  if (!LOG_LEVELS.includes(c.logLevel)) fail('logLevel', `one of ${LOG_LEVELS.join(', ')}`);
  // The API server refuses any other value: every injected pod would be refused with it.
  if (c.imagePullPolicy !== undefined && !PULL_POLICIES.includes(c.imagePullPolicy))
    fail('imagePullPolicy', `one of ${PULL_POLICIES.join(', ')}`);
  for (const [field, port] of [
    ['proxyPort', c.proxyPort],
    ['adminPort', c.adminPort],
  ] as const) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) fail(field, 'a port number 1-65535');
  }
  if (c.proxyPort === c.adminPort) fail('proxyPort', 'must differ from adminPort');
  if (c.hostNetwork !== 'refuse' && c.hostNetwork !== 'skip') fail('hostNetwork', '"refuse" or "skip"');
  if (c.cacheSize !== undefined && !((parseQuantity(c.cacheSize) ?? -1) >= 0))
    fail('cacheSize', 'a quantity');
  for (const kind of ['requests', 'limits'] as const) {
    for (const res of ['cpu', 'memory'] as const) {
      const v = c.resources[kind][res];
      if (v !== undefined && !((parseQuantity(v) ?? -1) >= 0)) fail(`resources.${kind}.${res}`, 'a quantity');
    }
  }
  if (!(c.legacyShutdownDelaySeconds >= 0)) fail('legacyShutdownDelaySeconds', '>= 0');
  if (!(c.legacyStartupTimeoutSeconds > 0)) fail('legacyStartupTimeoutSeconds', '> 0');
  return c;
}
