/**
 * The sign phase's second half, per attempt: the Host a backend expects and a fresh SigV4
 * signature with the store's current credentials. Runs again on each retry (another backend
 * means another Host header, hence another signature).
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
export async function signAttempt(
  up: UpstreamRequest,
  bucket: string | undefined,
  virtual: boolean,
  backend: Backend,
  signer: StoreSigner,
): Promise<SignedAttempt> {
  const useVirtual = virtual && bucket !== undefined;
  const host = useVirtual ? `${bucket}.${backend.hostHeader}` : backend.hostHeader;
  const path = useVirtual ? up.virtualPath : up.path;
  const toSign: Record<string, string> = { ...up.signedHeaders, host };
  const auth = await signer.sign({ method: up.method, path, query: up.query, headers: toSign });
  const headers = up.headers.slice();
  for (const k in toSign) headers.push(k, toSign[k]!);
  for (const k in auth) headers.push(k, auth[k]!);
  return { path: up.queryString ? `${path}?${up.queryString}` : path, headers };
}
