/**
 * Discovery: turns a store's endpoint URLs into backend addresses. An IP endpoint is one backend;
 * a hostname is resolved to every A/AAAA record — each address a backend that keeps the name for
 * its Host header and TLS SNI — and re-resolved on an interval or at its DNS TTL.
 */
import { lookup, resolve4, resolve6 } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { EndpointSpec } from '../config/types.ts';

/** One resolved address of a hostname. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves one hostname; `ttlMs` when the answer carried one. Rejects when the name has none. */
export interface HostResolver {
  resolve(hostname: string): Promise<{ addresses: ResolvedAddress[]; ttlMs?: number }>;
}

/** `getaddrinfo` via dns.lookup (all records): honours /etc/hosts, no TTL. */
export const lookupResolver: HostResolver = {
  async resolve(hostname) {
    const all = await lookup(hostname, { all: true, order: 'verbatim' });
    return { addresses: all.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 })) };
  },
};

/**
 * DNS A + AAAA queries with TTLs (dns.resolve4/6 `{ ttl: true }`); falls back to
 * {@link lookupResolver} when DNS has no record (names from /etc/hosts, "localhost").
 */
export const ttlResolver: HostResolver = {
  async resolve(hostname) {
    const [v4, v6] = await Promise.allSettled([
      resolve4(hostname, { ttl: true }),
      resolve6(hostname, { ttl: true }),
    ]);
    const addresses: ResolvedAddress[] = [];
    let ttl = Infinity;
    const add = (records: { address: string; ttl: number }[], family: 4 | 6): void => {
      for (const r of records) {
        addresses.push({ address: r.address, family });
        ttl = Math.min(ttl, r.ttl);
      }
    };
    if (v4.status === 'fulfilled') add(v4.value, 4);
    if (v6.status === 'fulfilled') add(v6.value, 6);
    if (addresses.length === 0) return lookupResolver.resolve(hostname);
    return Number.isFinite(ttl) ? { addresses, ttlMs: ttl * 1000 } : { addresses };
  },
};

/** A store endpoint, parsed once. */
export interface ParsedEndpoint {
  /** The URL as configured, the key of its backends. */
  url: string;
  protocol: 'http:' | 'https:';
  /** Hostname without IPv6 brackets. */
  hostname: string;
  port: number;
  /** Host header value: the configured host and non-default port. */
  hostHeader: string;
  zone: string | undefined;
  /** The address when the endpoint is an IP literal (no resolution). */
  literal: ResolvedAddress | undefined;
}

/** Parses one endpoint; throws a TypeError on a URL that is not http(s)://host[:port][/]. */
export function parseEndpoint(spec: EndpointSpec): ParsedEndpoint {
  const u = new URL(spec.url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new TypeError(`endpoint ${spec.url}: http(s) only`);
  if (u.pathname !== '/' || u.search !== '' || u.username !== '') {
    throw new TypeError(`endpoint ${spec.url}: no path, query or credentials`);
  }
  const hostname = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const family = isIP(hostname);
  return {
    url: spec.url,
    protocol: u.protocol,
    hostname,
    port: u.port === '' ? (u.protocol === 'https:' ? 443 : 80) : Number(u.port),
    hostHeader: u.host,
    zone: spec.zone,
    literal: family === 0 ? undefined : { address: hostname, family: family === 6 ? 6 : 4 },
  };
}

/** The origin to dial for one address of an endpoint. */
export function originFor(ep: ParsedEndpoint, addr: ResolvedAddress): string {
  const host = addr.family === 6 ? `[${addr.address}]` : addr.address;
  return `${ep.protocol}//${host}:${ep.port}`;
}

/** Next refresh delay: the configured interval, else the TTL clamped to [1 s, 5 min]. */
export function refreshDelayMs(configured: number | undefined, ttlMs: number | undefined): number {
  if (configured !== undefined) return configured;
  if (ttlMs === undefined) return 30_000;
  return Math.min(300_000, Math.max(1_000, ttlMs));
}
