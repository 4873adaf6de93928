/**
 * Names the webhook, the controller and the sidecar share. Changing one is a breaking change
 * for already-injected pods: add, do not rename.
 */

export const API_GROUP = 'sluice.dev';
export const API_VERSION = 'v1alpha1';

/** Pod annotations (set by users unless noted). */
export const Annotations = {
  /** "true" injects this pod; "false" opts it out of a namespace-wide injection. */
  inject: 'sluice.dev/inject',
  /** Comma-separated app containers that get the S3 env; default all. */
  containers: 'sluice.dev/containers',
  /** Overrides of the sidecar, per pod. */
  proxyPort: 'sluice.dev/proxy-port',
  proxyCpuRequest: 'sluice.dev/proxy-cpu-request',
  proxyCpuLimit: 'sluice.dev/proxy-cpu-limit',
  proxyMemoryRequest: 'sluice.dev/proxy-memory-request',
  proxyMemoryLimit: 'sluice.dev/proxy-memory-limit',
  logLevel: 'sluice.dev/log-level',
  cacheSize: 'sluice.dev/cache-size',
  /**
   * Set by the webhook: "injected" once mutated. A re-invocation then only gives the S3 env to
   * containers added since (by later webhooks), and is a no-op when there are none.
   */
  status: 'sluice.dev/status',
} as const;

/** Namespace label enabling injection of every pod in it ("enabled"). */
export const NAMESPACE_INJECTION_LABEL = 'sluice.dev/injection';

/**
 * Set by the webhook on every injected pod: a random identity, fixed at admission (when a
 * generateName pod has neither name nor UID). The controller writes the pod's policy into the
 * Secret named {@link podSecretName}(identity) and owns it by the pod's UID; it refuses to serve
 * one identity to two pods, so a pod can never receive another pod's policy.
 */
export const IDENTITY_LABEL = 'sluice.dev/identity';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'sluice';

/** The per-pod Secret the sidecar mounts. */
export function podSecretName(identity: string): string {
  return `sluice-pod-${identity}`;
}
/** Secret key holding the PodPolicyDocument (proxy/config/types.ts) as JSON. */
export const POLICY_KEY = 'policy.json';
/** Secret key holding one store's credentials JSON {accessKeyId, secretAccessKey, sessionToken?}. */
export function credentialsKey(store: string): string {
  return `${store}.credentials.json`;
}

/** Where the sidecar finds what the webhook mounted. */
export const SIDECAR_POLICY_DIR = '/var/run/sluice/policy';
export const SIDECAR_PODINFO_DIR = '/var/run/sluice/podinfo';
export const SIDECAR_CONTAINER_NAME = 'sluice-proxy';
export const PROXY_PORT = 7480;
export const ADMIN_PORT = 7481;

/**
 * Placeholder credentials the webhook gives app containers so SDKs sign requests at all; the
 * sidecar ignores them and re-signs with the pod's real grants. Not a secret, by design.
 */
export const PLACEHOLDER_ACCESS_KEY_ID = 'sluice';
export const PLACEHOLDER_SECRET_ACCESS_KEY = 'sluice-placeholder-not-a-secret';

/** The admission webhook as the chart registers it (clientConfig.service path, names). */
export const WEBHOOK_PATH = '/mutate';
export const WEBHOOK_PORT = 9443;
export const WEBHOOK_CONFIGURATION_NAME = 'sluice-injector';
export const WEBHOOK_NAME = 'inject.sluice.dev';
/** Secret (in the operator namespace) holding the self-managed CA and serving certificate. */
export const WEBHOOK_CERT_SECRET = 'sluice-webhook-tls';

/**
 * Env var carrying a pod's read-cache size (a Kubernetes quantity, from the operator config or
 * the `sluice.dev/cache-size` annotation) into the sidecar. Set only when a size is configured.
 * Reserved for the read cache still to come: `sluice proxy` does not read it yet.
 */
export const SIDECAR_CACHE_SIZE_ENV = 'SLUICE_CACHE_SIZE';

/**
 * Runtime tuning every injected sidecar gets (bench/proxy/PERFORMANCE.md, "Memory"): a 1 MiB
 * young-generation semi-space makes V8 scavenge often enough that the 64 KiB buffers a streaming
 * proxy churns through are freed while they are young, and one malloc arena stops glibc keeping
 * a fragmented arena per helper thread. Allocations of 32 KiB and up come from mmap and go back
 * to the system when freed: the request-body segments Node copies out (32–64 KiB, freed as the
 * backend socket writes them) otherwise leave holes in that one arena that count as RSS — SDK
 * uploads streamed without a length, whose segments come in more sizes, peaked at 97–99 MiB
 * without it and 91 with it (session 16). Together they cut peak RSS under 64 concurrent 64 MiB
 * transfers (measured figures in PERFORMANCE.md), at the price of ~10× more (shorter) scavenges.
 * The benchmarks start the proxy with the same env. NODE_OPTIONS is the operator's
 * `--sidecar-node-options` (empty: not set at all).
 */
export const SIDECAR_NODE_OPTIONS = '--max-semi-space-size=1';
export const SIDECAR_RUNTIME_ENV: readonly { name: string; value: string }[] = [
  { name: 'NODE_OPTIONS', value: SIDECAR_NODE_OPTIONS },
  { name: 'MALLOC_ARENA_MAX', value: '1' },
  { name: 'MALLOC_MMAP_THRESHOLD_', value: '32768' },
];
