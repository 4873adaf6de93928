/**
 * Native sidecar support, from the API server's /version. Native sidecars (KEP-753,
 * `restartPolicy: Always` on init containers) are on by default from Kubernetes 1.29. On an
 * older server the field is dropped and the "sidecar" becomes an init container that never
 * exits — the pod would never start — so anything unknown counts as *not* supported.
 */
import { API_CALL_DEADLINE_MS, withDeadline } from './namespaces.ts';
import { VersionApi } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';

/** The /version fields used; `minor` may carry a suffix ("29+" on some providers). */
export interface KubeVersion {
  major: string;
  minor: string;
  gitVersion?: string;
}

/** Parses "1.29", "v1.29.3", "1.29+" into numbers, or undefined. */
export function parseKubeVersion(v: KubeVersion | string): { major: number; minor: number } | undefined {
  const [major, minor] = typeof v === 'string' ? v.replace(/^v/, '').split('.') : [v.major, v.minor];
  const ma = Number.parseInt(major ?? '', 10);
  const mi = Number.parseInt(minor ?? '', 10);
  return Number.isNaN(ma) || Number.isNaN(mi) ? undefined : { major: ma, minor: mi };
}

/** True for Kubernetes >= 1.29. */
export function supportsNativeSidecars(v: KubeVersion | string): boolean {
  const p = parseKubeVersion(v);
  return p !== undefined && (p.major > 1 || (p.major === 1 && p.minor >= 29));
}

/** Fetches /version (unauthenticated-readable on every cluster). */
export function kubeVersionFetcher(kubeConfig: KubeConfig): () => Promise<KubeVersion> {
  const api = kubeConfig.makeApiClient(VersionApi);
  return () => withDeadline(api.getCode(), API_CALL_DEADLINE_MS, 'version');
}
