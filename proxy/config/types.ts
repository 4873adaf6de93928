/**
 * The shapes every component agrees on. The operator writes a {@link PodPolicyDocument} into each
 * injected pod's Secret; the proxy reads it (plus its own {@link ProxyConfig}) and enforces it.
 * Parsing and validation live in ./parse.ts; nothing below the edge reads raw input.
 *
 * Durations are milliseconds, sizes are bytes, everywhere.
 */

/** One access mode a grant may carry. `list` covers ListObjects*, ListMultipartUploads. */
export type AccessMode = 'read' | 'write' | 'list' | 'delete';

/**
 * Bucket-configuration operation classes that need an explicit grant (never implied by
 * read/write): reading or writing ?acl, ?policy, ?lifecycle, ?cors, ?versioning, ?tagging
 * (bucket), ?object-lock, ?notification, ?encryption, ?replication, ?website, ?logging, and
 * bucket create/delete.
 */
export type BucketConfigAccess = 'config-read' | 'config-write' | 'create-bucket' | 'delete-bucket';

/** One grant: what a pod may do on one bucket of one store, optionally under prefixes. */
export interface Grant {
  /** ObjectStore name (cluster-scoped) this grant applies to. */
  store: string;
  bucket: string;
  /** Key prefixes; empty or absent = the whole bucket. A prefix "a/" matches "a/x", not "ab". */
  prefixes?: string[];
  access: AccessMode[];
  /** Explicit bucket-configuration rights; never implied by `access`. */
  bucketConfig?: BucketConfigAccess[];
  /** Where this grant came from (e.g. "team-a/analytics-read"), shown in logs and `policy check`. */
  source?: string;
  /**
   * Read-cache settings of the BucketAccess this grant came from. Validated and carried now;
   * the coming policy-aware read cache uses them (a cached read is served only under a grant).
   */
  cache?: GrantCache;
}

/** Read-cache settings carried on a grant (see {@link Grant.cache}). */
export interface GrantCache {
  /** How long a cached object is fresh. */
  ttlSeconds?: number;
  /** Upper bound of the bytes this grant's objects may occupy in the cache. */
  maxSizeBytes?: number;
}

export type BalancingAlgorithm = 'round-robin' | 'least-in-flight' | 'peak-ewma';

export interface EndpointSpec {
  /** http(s)://host:port — a hostname is resolved to every A/AAAA record. */
  url: string;
  /** Availability zone of this endpoint, e.g. "zone-a". Unset = no zone preference. */
  zone?: string;
}

export interface HealthCheckSpec {
  path: string; // e.g. /minio/health/live
  /** Statuses that count as healthy: codes and ranges, comma-separated (config/status-ranges.ts). */
  expectStatus: string;
  intervalMs: number;
  timeoutMs: number;
  rise: number; // consecutive successes to mark healthy
  fall: number; // consecutive failures to mark unhealthy
}

export interface OutlierSpec {
  /** Consecutive 5xx answers, timeouts or resets (also mid-body) that eject a backend. */
  consecutive5xx: number;
  consecutiveConnectFailures: number;
  baseEjectionMs: number;
  maxEjectionPercent: number;
  /**
   * Below this healthy fraction of a pool, use every backend (panic mode). Backends not yet
   * health-checked count on neither side.
   */
  panicThresholdPercent: number;
}

export interface CredentialsRef {
  /**
   * A JSON file {accessKeyId, secretAccessKey, sessionToken?} — typically a key of a mounted
   * Secret. Relative paths resolve against the directory of the file that names them. Reloaded
   * when it changes (including kubelet's ..data symlink swap).
   */
  file: string;
}

export const STORE_PROVIDERS = ['aws', 'minio', 'ceph', 'vast', 'other'] as const;
export type StoreProvider = (typeof STORE_PROVIDERS)[number];

/** One S3-compatible store: its own backend pool; its traffic never reaches another store. */
export interface StoreSpec {
  name: string;
  endpoints: EndpointSpec[];
  region: string;
  /** 'path' always works; 'virtual' makes the proxy use <bucket>.<host> towards the backend. */
  addressing: 'path' | 'virtual';
  /**
   * The store's software, where its S3 dialect matters: `minio` checks signatures folding every
   * Unicode space in header values (Go's strings.Fields), so the proxy signs them that way for it.
   * Unset: SigV4 as AWS defines it (ASCII spaces only). It also decides which bucket names
   * (path-style) or first key segments (virtual) are refused as the backend's own API paths
   * (policy/engine.ts reservedBucketNames, reservedKeyRoots).
   */
  provider?: StoreProvider;
  credentials: CredentialsRef;
  balancing?: {
    algorithm?: BalancingAlgorithm;
    healthCheck?: Partial<HealthCheckSpec>;
    outlier?: Partial<OutlierSpec>;
    /** Re-resolve hostname endpoints this often (ms). */
    dnsRefreshMs?: number;
    /** Keep an address this long after its last DNS answer (ms; 0 = the latest answer only). */
    dnsAddressRetentionMs?: number;
  };
}

/**
 * What the operator projects into an injected pod (Secret key `policy.json`), and what a
 * standalone proxy may be given with `--policy`. Deny by default: no grant, no access.
 */
export interface PodPolicyDocument {
  /** Schema version of this document. */
  version: 1;
  /** The pod's own zone (its node's topology.kubernetes.io/zone), for zone-aware routing. */
  zone?: string;
  stores: StoreSpec[];
  grants: Grant[];
}

/** host:port a listener binds. */
export interface ListenAddress {
  host: string;
  port: number;
}

/** Every timeout of the proxy (ms). 0 disables one. */
export interface ProxyTimeouts {
  /** Time a client has to send the complete request head. */
  requestHeaderTimeoutMs: number;
  /**
   * Client idle, both directions: no request-body byte arrives, or the client does not take
   * response bytes, for this long → the request is aborted (and its backend connection freed).
   */
  clientIdleMs: number;
  /** A kept-alive client connection with no request in flight is closed after this long. */
  keepAliveIdleMs: number;
  backendConnectMs: number;
  /**
   * From the request being sent to the backend's response headers; also the longest wait for a
   * free backend connection while every one is busy (http1/exchange.ts queued()).
   */
  backendFirstByteMs: number;
  /** No response-body byte from the backend for this long → abort. */
  backendIdleMs: number;
}

/** The sidecar's own configuration: listeners, timeouts and limits, plus the policy it enforces. */
/** A balancing setting of the operator's policy document that this sidecar left out, and why. */
export interface LeftOutSetting {
  field: string;
  problem: string;
}

export interface ProxyConfig {
  listen: ListenAddress;
  admin: ListenAddress;
  /**
   * Domains under which `<bucket>.<domain>` Host headers mean virtual-hosted addressing, e.g.
   * "s3.localhost". Path-style always works.
   */
  virtualHostDomains: string[];
  timeouts: ProxyTimeouts;
  limits: {
    /** Total size of the request line + headers; larger → 400 RequestHeaderSectionTooLarge. */
    maxHeaderBytes: number;
  };
  /**
   * Past either bound a client connection is answered with `Connection: close`, so kept-alive
   * clients reconnect (and land where traffic now goes). 0 = unbounded.
   */
  keepAlive: { maxAgeMs: number; maxRequests: number };
  /** After SIGTERM, in-flight requests get this long to finish. */
  shutdown: { graceMs: number };
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** The file the policy came from (reloaded with credentials), if it came from a file. */
  policyFile: string | undefined;
  policy: PodPolicyDocument;
  /** Balancing settings of the --policy document this sidecar cannot use, left out (logged at start). */
  droppedSettings?: LeftOutSetting[];
}
