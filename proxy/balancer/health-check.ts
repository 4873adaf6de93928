/**
 * Active health checks (the I/O half; ./health.ts is the state machine): every interval, an HTTP
 * GET of the configured path on each backend, with the endpoint's Host and SNI, over a small
 * connection of its own so that a saturated traffic pool never delays a probe. A status in
 * healthCheck.expectStatus (by default 2xx/3xx for MinIO, anything below 500 elsewhere: see
 * ./config.ts) within the timeout is a success; anything else (status, refused, timeout) a failure.
 */
import { inRanges } from '../config/status-ranges.ts';
import { UpstreamPool } from '../http1/pool.ts';
import type { UpstreamController } from '../http1/types.ts';
import type { BackendNode } from './backend.ts';
import type { BalancerOptions } from './config.ts';
import type { ProbeResult } from './health.ts';
import type { Clock } from './random.ts';

/** Probes one backend once; never rejects. */
export type Prober = (backend: BackendNode) => Promise<ProbeResult>;

/** The probe ran out of its whole time budget (a backend that answers, but too slowly). */
class ProbeTimeout extends Error {
  readonly code = 'PROBE_TIMEOUT';
}

/**
 * Body bytes a probe reads; a longer answer is cut off (its connection closed) and judged by its
 * status, as undici's `body.dump()` did: a health endpoint answers in a few bytes, and a probe
 * must never stream an object.
 */
const PROBE_BODY_LIMIT = 64 * 1024;

/**
 * Probe connections per backend (one each, the sidecar's own HTTP/1.1 client), closed with
 * {@link HttpProber.close}.
 */
export class HttpProber {
  readonly #clients = new Map<BackendNode, UpstreamPool>();
  readonly #opts: BalancerOptions['healthCheck'];
  readonly #connectTimeoutMs: number;
  readonly #clock: Clock;

  constructor(opts: BalancerOptions['healthCheck'], connectTimeoutMs: number, clock: Clock) {
    this.#opts = opts;
    this.#connectTimeoutMs = connectTimeoutMs;
    this.#clock = clock;
  }

  /** Probes `backend` once. */
  readonly probe: Prober = (backend) =>
    new Promise<ProbeResult>((resolve) => {
      const timeoutMs = this.#opts.timeoutMs;
      let status = 0;
      let bodyBytes = 0;
      let cutOff = false;
      const exchange: { controller?: UpstreamController } = {};
      // Connect, first byte and body each have their own timeout; this bounds the whole probe.
      const timer = setTimeout(
        () => exchange.controller?.abort(new ProbeTimeout(`no complete answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const finish = (error: unknown): void => {
        clearTimeout(timer);
        const at = this.#clock.now();
        if (error !== undefined) resolve({ ok: false, error: errorCode(error), at });
        else if (inRanges(this.#opts.healthy, status)) resolve({ ok: true, status, at });
        else resolve({ ok: false, status, error: `status ${status}`, at });
      };
      try {
        exchange.controller = this.#client(backend).dispatch(
          {
            method: 'GET',
            path: this.#opts.path,
            headers: ['host', backend.hostHeader, 'user-agent', 'sluice-health-check'],
            body: null,
            headersTimeout: timeoutMs,
            bodyTimeout: timeoutMs,
          },
          {
            onResponseStart: (_c, statusCode) => (status = statusCode),
            onResponseData: (c, chunk) => {
              bodyBytes += chunk.length;
              if (bodyBytes > PROBE_BODY_LIMIT && !cutOff) {
                cutOff = true;
                c.abort(new Error('health check answer too long; judged by its status'));
              }
            },
            onResponseEnd: () => finish(undefined),
            onResponseError: (_c, err) => finish(cutOff ? undefined : err),
          },
        );
      } catch (err) {
        finish(err); // an origin the client cannot dial: a failed probe, never a stray timer
      }
    });

  /** Closes the probe connection of a removed backend. */
  forget(backend: BackendNode): void {
    const c = this.#clients.get(backend);
    this.#clients.delete(backend);
    void c?.destroy().catch(() => undefined);
  }

  async close(): Promise<void> {
    const all = [...this.#clients.values()];
    this.#clients.clear();
    await Promise.all(all.map((c) => c.destroy().catch(() => undefined)));
  }

  #client(backend: BackendNode): UpstreamPool {
    let c = this.#clients.get(backend);
    if (c === undefined) {
      c = new UpstreamPool(backend.origin, {
        connections: 1,
        keepAliveTimeoutMs: 2 * this.#opts.intervalMs,
        maxConnectionAgeMs: 0,
        connectTimeoutMs: this.#connectTimeoutMs,
        servername: backend.servername,
        // A probe answer is small: leave the large read buffers to traffic.
        smallReads: true,
      });
      this.#clients.set(backend, c);
    }
    return c;
  }
}

function errorCode(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? code : err.name;
  }
  return String(err);
}
