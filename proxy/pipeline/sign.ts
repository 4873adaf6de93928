/**
 * The sign phase's second half, per attempt: the Host a backend expects and a fresh SigV4
 * signature with the store's current credentials. Runs again on each retry (another backend
 * means another Host header, hence another signature). Synchronous: the canonical parts were
 * built once by upstream.ts, the signer only merges in host and date and hashes.
 */
import type { Backend } from '../balancer/types.ts';
import type { StoreSigner } from '../sigv4/signer.ts';
import type { UpstreamRequest } from './context.ts';

/** The request line and the full header list for one attempt on one backend. */
export interface SignedAttempt {
  /** Path with query, as sent. */
  path: string;
  /** Flat [name, value, …] headers, including host and authorization. */
  headers: string[];
}

/**
 * Signs `up` for `backend`. With virtual addressing the bucket moves into the Host header
 * (`<bucket>.<host>`); only hostname endpoints can do that.
 */
export function signAttempt(
  up: UpstreamRequest,
  bucket: string | undefined,
  virtual: boolean,
  backend: Backend,
  signer: StoreSigner,
): SignedAttempt {
  const useVirtual = virtual && bucket !== undefined;
  const host = useVirtual ? `${bucket}.${backend.hostHeader}` : backend.hostHeader;
  const parts = useVirtual ? { ...up.canonical, path: up.virtualPath } : up.canonical;
  const sig = signer.signParts(parts, host);
  const headers = up.headers.slice();
  headers.push('host', host, 'x-amz-date', sig.amzDate, 'authorization', sig.authorization);
  if (sig.securityToken !== undefined) headers.push('x-amz-security-token', sig.securityToken);
  return { path: parts.query ? `${parts.path}?${parts.query}` : parts.path, headers };
}
