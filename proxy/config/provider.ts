/** What a store's software is when its spec leaves `provider` unset. */
import type { StoreSpec } from './types.ts';

/** True for an endpoint on AWS's own S3 domains. */
export function isAwsEndpoint(url: string): boolean {
  try {
    const host = new URL(url).hostname.toLowerCase();
    return host.endsWith('.amazonaws.com') || host.endsWith('.amazonaws.com.cn');
  } catch {
    return false;
  }
}

/** A store without `provider` whose endpoints are all AWS's is AWS. */
export function unsetButAws(store: Pick<StoreSpec, 'provider' | 'endpoints'>): boolean {
  const { endpoints } = store;
  return store.provider === undefined && endpoints.length > 0 && endpoints.every((e) => isAwsEndpoint(e.url));
}
