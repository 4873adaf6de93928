/**
 * The sidecar container and its two volumes, built from the pod's settings. Pure.
 *
 * Native mode (Kubernetes >= 1.29, KEP-753): an init container with `restartPolicy: Always`.
 * Kubelet starts later containers only after its startupProbe passes, and stops it only after
 * every app container has exited — exactly "ready before, alive after".
 *
 * Legacy mode: a regular container placed first. Kubelet starts containers in order but does
 * not wait for probes, so a postStart hook blocks until /readyz answers (kubelet runs the next
 * container only once the previous one's postStart returns); a preStop hook delays its SIGTERM
 * so apps can finish their last requests. Limits: a pod's app containers still race the sidecar
 * on restarts of the sidecar alone, the delay is bounded by terminationGracePeriodSeconds, and
 * a Job's pod never completes because the sidecar never exits.
 */
import type { V1Container, V1EnvVar, V1Volume } from '@kubernetes/client-node';
import {
  POLICY_KEY,
  SIDECAR_CACHE_SIZE_ENV,
  SIDECAR_RUNTIME_ENV,
  SIDECAR_CONTAINER_NAME,
  SIDECAR_PODINFO_DIR,
  SIDECAR_POLICY_DIR,
} from '../contract.ts';
import type { SidecarSettings } from './annotations.ts';
import type { InjectorConfig } from './config.ts';

export const POLICY_VOLUME = 'sluice-policy';
export const PODINFO_VOLUME = 'sluice-podinfo';
export const ADMIN_PORT_NAME = 'sluice-admin';
/** The sidecar's UID/GID: distroless "nonroot". */
export const SIDECAR_UID = 65532;

export interface SidecarSpec {
  container: V1Container;
  volumes: V1Volume[];
}

/**
 * The sidecar's arguments, matching `sluice proxy`'s flags (proxy/cli.ts: --policy, --listen,
 * --admin, --log-level). The cache size has no flag there; it travels in
 * SIDECAR_CACHE_SIZE_ENV.
 */
export function sidecarArgs(settings: SidecarSettings): string[] {
  return [
    'proxy',
    '--policy',
    `${SIDECAR_POLICY_DIR}/${POLICY_KEY}`,
    '--listen',
    `127.0.0.1:${settings.proxyPort}`,
    '--admin',
    // Every address of both families: kubelet probes an IPv6-only pod on its IPv6 address.
    `:${settings.adminPort}`,
    '--log-level',
    settings.logLevel,
  ];
}

/** SIDECAR_RUNTIME_ENV with the operator's NODE_OPTIONS (left out when configured empty). */
function runtimeEnv(config: InjectorConfig): V1EnvVar[] {
  const rest = SIDECAR_RUNTIME_ENV.filter((e) => e.name !== 'NODE_OPTIONS').map((e) => ({ ...e }));
  return config.nodeOptions ? [{ name: 'NODE_OPTIONS', value: config.nodeOptions }, ...rest] : rest;
}

/** Builds the sidecar for a pod whose policy Secret is `secretName`. */
export function buildSidecar(
  settings: SidecarSettings,
  config: InjectorConfig,
  secretName: string,
  native: boolean,
): SidecarSpec {
  // A fresh object per probe: shared references would become YAML anchors in `sluice inject`.
  const readyz = () => ({ httpGet: { path: '/readyz', port: ADMIN_PORT_NAME } });
  const container: V1Container = {
    name: SIDECAR_CONTAINER_NAME,
    image: config.image,
    ...(config.imagePullPolicy !== undefined && { imagePullPolicy: config.imagePullPolicy }),
    ...(config.command !== undefined && { command: [...config.command] }),
    args: sidecarArgs(settings),
    ...(native && { restartPolicy: 'Always' }),
    ports: [{ name: ADMIN_PORT_NAME, containerPort: settings.adminPort, protocol: 'TCP' }],
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      ...runtimeEnv(config),
      ...(settings.cacheSize !== undefined
        ? [{ name: SIDECAR_CACHE_SIZE_ENV, value: settings.cacheSize }]
        : []),
    ],
    resources: resources(settings),
    securityContext: {
      runAsNonRoot: true,
      runAsUser: SIDECAR_UID,
      runAsGroup: SIDECAR_UID,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    // Up to 2 minutes to become ready (first policy load, backend health checks).
    startupProbe: { ...readyz(), periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 120 },
    readinessProbe: { ...readyz(), periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 3 },
    livenessProbe: {
      httpGet: { path: '/healthz', port: ADMIN_PORT_NAME },
      periodSeconds: 10,
      timeoutSeconds: 2,
      failureThreshold: 3,
    },
    volumeMounts: [
      { name: POLICY_VOLUME, mountPath: SIDECAR_POLICY_DIR, readOnly: true },
      { name: PODINFO_VOLUME, mountPath: SIDECAR_PODINFO_DIR, readOnly: true },
    ],
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
  if (!native) container.lifecycle = legacyHooks(settings, config);

  const volumes: V1Volume[] = [
    // optional: false — the pod waits for the controller to write its policy instead of
    // starting with none.
    { name: POLICY_VOLUME, secret: { secretName, defaultMode: 0o444, optional: false } },
    {
      name: PODINFO_VOLUME,
      downwardAPI: {
        defaultMode: 0o444,
        items: [
          { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
          { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } },
        ],
      },
    },
  ];
  return { container, volumes };
}

function resources(settings: SidecarSettings): V1Container['resources'] {
  const out: { requests?: Record<string, string>; limits?: Record<string, string> } = {};
  for (const kind of ['requests', 'limits'] as const) {
    const entries = Object.entries(settings.resources[kind]).filter(([, v]) => v !== undefined);
    if (entries.length > 0) out[kind] = Object.fromEntries(entries);
  }
  return out;
}

/** Legacy mode's ordering hooks, run with the image's node (no shell in the image). */
function legacyHooks(settings: SidecarSettings, config: InjectorConfig): V1Container['lifecycle'] {
  const url = `http://127.0.0.1:${settings.adminPort}/readyz`;
  const waitReady =
    `const end=Date.now()+${config.legacyStartupTimeoutSeconds * 1000};` +
    `(async()=>{for(;;){try{if((await fetch('${url}')).ok)return}catch{}` +
    `if(Date.now()>end)process.exit(1);await new Promise(r=>setTimeout(r,250))}})()`;
  const linger = `setTimeout(()=>{},${config.legacyShutdownDelaySeconds * 1000})`;
  return {
    postStart: { exec: { command: [config.nodeBinary, '-e', waitReady] } },
    preStop: { exec: { command: [config.nodeBinary, '-e', linger] } },
  };
}
