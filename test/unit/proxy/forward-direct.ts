/**
 * forward() alone, for tests of the byte path between a client and one backend pool: no policy,
 * no balancer, no signing — a bodiless GET of `path` answered on `res`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Backend } from '../../../proxy/balancer/types.ts';
import type { ProxyTimeouts } from '../../../proxy/config/types.ts';
import type { UpstreamPool } from '../../../proxy/http1/pool.ts';
import type { RequestContext } from '../../../proxy/pipeline/context.ts';
import { forward, type AttemptResult } from '../../../proxy/pipeline/forward.ts';

export function forwardGet(
  req: IncomingMessage,
  res: ServerResponse,
  pool: UpstreamPool,
  path: string,
  timeouts: Pick<ProxyTimeouts, 'clientIdleMs' | 'backendFirstByteMs' | 'backendIdleMs'>,
): Promise<AttemptResult> {
  const ctx = {
    id: path,
    req,
    res,
    upstream: { method: 'GET', body: undefined, releaseBody: false },
    bytesIn: 0,
    bytesOut: 0,
    outcome: 'ok',
    closeConnection: false,
  } as unknown as RequestContext;
  const backend = { dispatcher: pool } as unknown as Backend;
  return forward(ctx, backend, { path, headers: ['host', 'b'] }, timeouts as ProxyTimeouts);
}
