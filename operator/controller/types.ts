/**
 * TypeScript shapes of the sluice.dev/v1alpha1 custom resources (crds/*.yaml is the schema the
 * API server enforces; these mirror it) and of the core objects the controller reads.
 */
import type {
  AccessMode,
  BalancingAlgorithm,
  BucketConfigAccess,
  HealthCheckSpec,
  OutlierSpec,
  StoreProvider,
} from '../../proxy/config/types.ts';
import type { Condition } from '../kube/conditions.ts';
import type { KubeObject } from '../kube/client.ts';
import type { LabelSelector } from '../kube/selectors.ts';

export const GROUP = 'sluice.dev';
export const VERSION = 'v1alpha1';

/** How a store's backend credentials reach pods. */
export type CredentialsMode = 'static' | 'sts';

/** ObjectStore.spec (cluster-scoped). */
export interface ObjectStoreSpec {
  endpoints: { url: string; zone?: string }[];
  region: string;
  addressing?: 'path' | 'virtual';
  provider?: StoreProvider;
  balancing?: {
    algorithm?: BalancingAlgorithm;
    healthCheck?: Partial<HealthCheckSpec>;
    outlier?: Partial<OutlierSpec>;
    dnsRefreshMs?: number;
    dnsAddressRetentionMs?: number;
  };
  credentials: {
    secretRef: { namespace: string; name: string };
    mode?: CredentialsMode;
    sts?: { endpoint?: string; durationSeconds?: number };
  };
  /** Namespaces whose BucketAccesses may use this store; `{}` = all. Required: no implicit default. */
  allowedNamespaces: LabelSelector;
}

/** .status of both kinds. */
export interface SluiceStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  matchedPods?: number;
}

export interface ObjectStore extends KubeObject {
  spec: ObjectStoreSpec;
  status?: SluiceStatus;
}

/** One grant of a BucketAccess. */
export interface BucketAccessGrant {
  bucket: string;
  prefixes?: string[];
  access: AccessMode[];
  bucketConfig?: BucketConfigAccess[];
}

/** BucketAccess.spec (namespaced). */
export interface BucketAccessSpec {
  storeRef: string;
  /** Pods whose labels match; when serviceAccountName is also set, both must match. */
  podSelector?: LabelSelector;
  serviceAccountName?: string;
  grants: BucketAccessGrant[];
  /** Read-cache settings, projected onto each of this BucketAccess's grants in the pod policy. */
  cache?: { ttlSeconds?: number; maxSizeBytes?: number };
}

export interface BucketAccess extends KubeObject {
  spec: BucketAccessSpec;
  status?: SluiceStatus;
}

/** The parts of core/v1 objects the controller reads. */
export interface Pod extends KubeObject {
  spec?: {
    nodeName?: string;
    serviceAccountName?: string;
    hostNetwork?: boolean;
    containers?: { name?: string }[];
    initContainers?: { name?: string }[];
  };
  status?: { phase?: string };
}
export interface Secret extends KubeObject {
  type?: string;
  data?: Record<string, string>;
}
export type Node = KubeObject;
export type Namespace = KubeObject;

/** The label on Nodes naming their zone (well-known label). */
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
