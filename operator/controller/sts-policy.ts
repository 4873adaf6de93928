/**
 * The IAM session policy an STS AssumeRole is limited to: exactly one pod's grants on one store,
 * in IAM policy grammar (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html),
 * using only action names MinIO also knows. The effective rights of the returned credentials are
 * the intersection of this policy and the store user's own policy, so the backend enforces the
 * grants too (defence in depth behind the sidecar's own checks). Pure.
 */
import { createHash } from 'node:crypto';
import type { AccessMode, BucketConfigAccess, Grant } from '../../proxy/config/types.ts';

/** One IAM statement. */
export interface PolicyStatement {
  Effect: 'Allow';
  Action: string[];
  Resource: string[];
  Condition?: { StringLike: { 's3:prefix': string[] } };
}

/** An IAM policy document. */
export interface SessionPolicy {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

/** Object-level actions per access mode (on arn:aws:s3:::bucket/prefix*). */
const OBJECT_ACTIONS: Partial<Record<AccessMode, string[]>> = {
  read: ['s3:GetObject'],
  write: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
  delete: ['s3:DeleteObject'],
};

/** Bucket-level actions per explicit bucket-configuration right (on arn:aws:s3:::bucket). */
const BUCKET_CONFIG_ACTIONS: Record<BucketConfigAccess, string[]> = {
  'config-read': [
    's3:GetBucketPolicy',
    's3:GetBucketVersioning',
    's3:GetBucketTagging',
    's3:GetLifecycleConfiguration',
    's3:GetBucketNotification',
    's3:GetEncryptionConfiguration',
    's3:GetBucketObjectLockConfiguration',
    's3:GetReplicationConfiguration',
  ],
  'config-write': [
    's3:PutBucketPolicy',
    's3:DeleteBucketPolicy',
    's3:PutBucketVersioning',
    's3:PutBucketTagging',
    's3:PutLifecycleConfiguration',
    's3:PutBucketNotification',
    's3:PutEncryptionConfiguration',
    's3:PutBucketObjectLockConfiguration',
    's3:PutReplicationConfiguration',
  ],
  'create-bucket': ['s3:CreateBucket'],
  'delete-bucket': ['s3:DeleteBucket'],
};

const bucketArn = (bucket: string): string => `arn:aws:s3:::${bucket}`;

/**
 * The session policy for `grants` (only those whose store is `store` are used). Statements are
 * merged by action set and sorted so that the same grants always give byte-identical JSON.
 * Prefix "a/" → resource `bucket/a/*` (IAM `*` = any suffix, the grant's plain prefix match);
 * the CRD forbids `*` and `?` in prefixes so they cannot widen the pattern.
 */
export function buildSessionPolicy(store: string, grants: readonly Grant[]): SessionPolicy {
  // key = JSON of (actions, condition) → resources
  const merged = new Map<string, { actions: string[]; condition?: string[]; resources: Set<string> }>();
  const add = (actions: string[], resources: string[], condition?: string[]): void => {
    const acts = [...new Set(actions)].sort();
    const cond = condition ? [...new Set(condition)].sort() : undefined;
    const key = JSON.stringify([acts, cond ?? null]);
    let e = merged.get(key);
    if (!e) {
      e = cond
        ? { actions: acts, condition: cond, resources: new Set() }
        : { actions: acts, resources: new Set() };
      merged.set(key, e);
    }
    for (const r of resources) e.resources.add(r);
  };
  for (const g of grants) {
    if (g.store !== store) continue;
    // A prefix with `${` would be an IAM policy variable here (`${aws:username}/` expanded by the
    // store), not the literal the sidecar checks: such a grant gets nothing at the store. The
    // CRD refuses them; this covers objects stored before it did.
    if (g.prefixes?.some((p) => p.includes('${'))) continue;
    const prefixes = g.prefixes && g.prefixes.length > 0 ? g.prefixes : [''];
    const objectResources = prefixes.map((p) => `${bucketArn(g.bucket)}/${p}*`);
    const objectActions = g.access.flatMap((a) => OBJECT_ACTIONS[a] ?? []);
    if (objectActions.length > 0) add(objectActions, objectResources);
    // Every grant may locate its bucket: SDKs call GetBucketLocation before the real request.
    add(['s3:GetBucketLocation'], [bucketArn(g.bucket)]);
    if (g.access.includes('list')) {
      const whole = prefixes.includes('');
      add(['s3:ListBucket'], [bucketArn(g.bucket)], whole ? undefined : prefixes.map((p) => `${p}*`));
      add(['s3:ListBucketMultipartUploads'], [bucketArn(g.bucket)]);
    }
    for (const c of g.bucketConfig ?? []) add(BUCKET_CONFIG_ACTIONS[c], [bucketArn(g.bucket)]);
  }
  const statements = [...merged.values()].map((e) => {
    const st: PolicyStatement = { Effect: 'Allow', Action: e.actions, Resource: [...e.resources].sort() };
    if (e.condition) st.Condition = { StringLike: { 's3:prefix': e.condition } };
    return st;
  });
  statements.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  return { Version: '2012-10-17', Statement: statements };
}

/** Short stable hash (hex) of any JSON-able value: detects a changed policy or source key. */
export function stableHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 32);
}
