/**
 * Shared fixtures for the policy unit tests: grant shapes on bucket `data` of store `s1`, and a
 * helper that runs a raw HTTP request line through the same steps the proxy does (parse the
 * target, then authorize with the raw-target cross-check on).
 */
import type { Grant, PodPolicyDocument } from '../../../proxy/config/types.ts';
import { createAuthorizer } from '../../../proxy/policy/index.ts';
import type { Authorizer, Decision } from '../../../proxy/policy/index.ts';
import { canonicalTarget } from '../../../proxy/policy/target.ts';

export const VHOST = 's3.local';

const store = {
  name: 's1',
  endpoints: [{ url: 'http://127.0.0.1:9' }],
  region: 'us-east-1',
  addressing: 'path' as const,
  credentials: { file: '/dev/null' },
};

const ALL_CONFIG = ['config-read', 'config-write', 'create-bucket', 'delete-bucket'] as const;

/** Named grant shapes; each is the whole policy for one column of the table. */
export const SHAPES: Readonly<Record<string, Grant[]>> = {
  whole: [{ store: 's1', bucket: 'data', access: ['read', 'write', 'list', 'delete'], source: 'whole' }],
  prefix: [
    {
      store: 's1',
      bucket: 'data',
      prefixes: ['team/'],
      access: ['read', 'write', 'list', 'delete'],
      source: 'prefix',
    },
  ],
  read: [{ store: 's1', bucket: 'data', access: ['read'], source: 'read' }],
  write: [{ store: 's1', bucket: 'data', access: ['write'], source: 'write' }],
  list: [{ store: 's1', bucket: 'data', access: ['list'], source: 'list' }],
  delete: [{ store: 's1', bucket: 'data', access: ['delete'], source: 'delete' }],
  config: [{ store: 's1', bucket: 'data', access: [], bucketConfig: [...ALL_CONFIG], source: 'config' }],
  admin: [
    {
      store: 's1',
      bucket: 'data',
      access: ['read', 'write', 'list', 'delete'],
      bucketConfig: [...ALL_CONFIG],
      source: 'admin',
    },
  ],
  other: [{ store: 's1', bucket: 'other', access: ['read', 'write', 'list', 'delete'], source: 'other' }],
  empty: [],
};

/** A policy document over `grants`, with store s1 (and s2 when a grant names it). */
export function policy(grants: Grant[]): PodPolicyDocument {
  const stores = [store, { ...store, name: 's2' }];
  return { version: 1, stores, grants };
}

/** Authorizes a raw request: method, request-target, headers (lower-case names). */
export function run(
  authz: Authorizer,
  method: string,
  target: string,
  headers: Record<string, string> = {},
): Decision {
  const host = headers.host ?? '127.0.0.1:7480';
  const t = canonicalTarget(target, host, { virtualHostDomains: [VHOST] });
  if (!t.ok) {
    return {
      allow: false,
      operation: 'Unknown',
      reason: 'bad-target',
      message: t.message,
      s3Code: 'InvalidRequest',
      status: 400,
    };
  }
  return authz.authorize({
    method,
    bucket: t.bucket,
    key: t.key,
    query: t.query,
    headers: { host, ...headers },
    rawTarget: target,
  });
}

/** An authorizer over one named shape. */
export function shape(name: string): Authorizer {
  return createAuthorizer(policy(SHAPES[name] ?? []), { virtualHostDomains: [VHOST] });
}
