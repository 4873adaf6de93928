/**
 * The certificate Secret every operator replica shares. Replicas race at start and at renewal;
 * the API server's optimistic concurrency decides: create fails with 409 AlreadyExists for
 * all but one, replace with a stale resourceVersion fails with 409 Conflict — the loser
 * re-reads and adopts the winner's bundle. So all replicas serve certificates from one CA,
 * and the caBundle they write agrees.
 */
import type { CoreV1Api, V1Secret } from '@kubernetes/client-node';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../contract.ts';
import type { CertBundle, CertPolicy } from './bundle.ts';
import { SecretKeys, renewBundle, renewalNeeded } from './bundle.ts';

export interface EnsureResult {
  bundle: CertBundle;
  /** What this call did; "adopted" = another replica wrote it first. */
  action: 'unchanged' | 'created' | 'renewed' | 'adopted';
  why?: string;
}

/** HTTP status of a client-node error, if it has one. */
export function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * Reads the Secret `namespace/name`, and creates or renews it when missing, unreadable, near
 * expiry or lacking a SAN. Bounded retries on conflicts; throws on any other API error.
 */
export async function ensureCertSecret(
  api: CoreV1Api,
  namespace: string,
  name: string,
  policy: CertPolicy,
  now: () => Date = () => new Date(),
): Promise<EnsureResult> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const secret = await readSecret(api, namespace, name);
    const current = secret && fromSecret(secret);
    if (current) {
      const need = renewalNeeded(current, policy, now());
      if (!need) return { bundle: current, action: attempt === 0 ? 'unchanged' : 'adopted' };
      const bundle = renewBundle(current, need.what, policy, now());
      const body = toSecret(namespace, name, bundle, secret);
      try {
        await api.replaceNamespacedSecret({ namespace, name, body });
        return { bundle, action: 'renewed', why: need.why };
      } catch (err) {
        if (statusOf(err) !== 409) throw err;
        continue; // another replica renewed first: adopt its bundle
      }
    }
    const bundle = renewBundle(undefined, 'ca', policy, now());
    try {
      if (secret) {
        // Exists but is not ours to parse (garbage, or a foreign shape): overwrite it.
        await api.replaceNamespacedSecret({
          namespace,
          name,
          body: toSecret(namespace, name, bundle, secret),
        });
      } else {
        await api.createNamespacedSecret({ namespace, body: toSecret(namespace, name, bundle) });
      }
      return { bundle, action: 'created' };
    } catch (err) {
      if (statusOf(err) !== 409) throw err;
    }
  }
  throw new Error(`certificate Secret ${namespace}/${name}: still conflicting after 5 attempts`);
}

/** The bundle in a Secret, or undefined if a key is missing. */
export function fromSecret(secret: V1Secret): CertBundle | undefined {
  const d = secret.data ?? {};
  const get = (k: string) => (d[k] === undefined ? undefined : Buffer.from(d[k], 'base64').toString('utf8'));
  const [cert, key, caCert, caKey] = [
    get(SecretKeys.cert),
    get(SecretKeys.key),
    get(SecretKeys.caCert),
    get(SecretKeys.caKey),
  ];
  if (!cert || !key || !caCert || !caKey) return undefined;
  const previousCaCert = get(SecretKeys.previousCaCert);
  return { cert, key, caCert, caKey, ...(previousCaCert && { previousCaCert }) };
}

/** The Secret for `b`; with `existing`, a replacement of it (same type, its resourceVersion). */
function toSecret(namespace: string, name: string, b: CertBundle, existing?: V1Secret): V1Secret {
  const resourceVersion = existing?.metadata?.resourceVersion;
  const data: Record<string, string> = {
    [SecretKeys.cert]: b64(b.cert),
    [SecretKeys.key]: b64(b.key),
    [SecretKeys.caCert]: b64(b.caCert),
    [SecretKeys.caKey]: b64(b.caKey),
  };
  if (b.previousCaCert) data[SecretKeys.previousCaCert] = b64(b.previousCaCert);
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    // A Secret's type is immutable: keep the existing one (the keys suit kubernetes.io/tls too).
    type: existing?.type ?? 'kubernetes.io/tls',
    metadata: {
      name,
      namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
      ...(resourceVersion && { resourceVersion }),
    },
    data,
  };
}

async function readSecret(api: CoreV1Api, namespace: string, name: string): Promise<V1Secret | undefined> {
  try {
    return await api.readNamespacedSecret({ namespace, name });
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}

function b64(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64');
}
