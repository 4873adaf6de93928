/**
 * Active health checks (the I/O half; ./health.ts is the state machine): every interval, an HTTP
 * GET of the configured path on each backend, with the endpoint's Host and SNI, over a small
 * client of its own so that a saturated traffic pool never delays a probe. 2xx/3xx within the
 * timeout is a success; anything else (status, refused, timeout) a failure.
 */
import type { Client as UndiciClient } from 'undici';
import { Client } from '../runtime-deps.ts';
import type { BackendNode } from './backend.ts';
import type { BalancerOptions } from './config.ts';
import type { ProbeResult } from './health.ts';
import type { Clock } from './random.ts';

/** Probes one backend once; never rejects. */
export type Prober = (backend: BackendNode) => Promise<ProbeResult>;

/** Probe clients per backend, closed with {@link HttpProber.close}. */
export class HttpProber {
  readonly #clients = new Map<BackendNode, UndiciClient>();
  readonly #opts: BalancerOptions['healthCheck'];
  readonly #connectTimeoutMs: number;
  readonly #clock: Clock;

  constructor(opts: BalancerOptions['healthCheck'], connectTimeoutMs: number, clock: Clock) {
    this.#opts = opts;
    this.#connectTimeoutMs = connectTimeoutMs;
    this.#clock = clock;
  }

  /** Probes `backend` once. */
  readonly probe: Prober = async (backend) => {
    const client = this.#client(backend);
    try {
      const res = await client.request({
        method: 'GET',
        path: this.#opts.path,
        headers: { host: backend.hostHeader, 'user-agent': 'sluice-health-check' },
        headersTimeout: this.#opts.timeoutMs,
        bodyTimeout: this.#opts.timeoutMs,
        signal: AbortSignal.timeout(this.#opts.timeoutMs),
      });
      await res.body.dump();
      const ok = res.statusCode >= 200 && res.statusCode < 400;
      return ok
        ? { ok, status: res.statusCode, at: this.#clock.now() }
        : { ok, status: res.statusCode, error: `status ${res.statusCode}`, at: this.#clock.now() };
    } catch (err) {
      return { ok: false, error: errorCode(err), at: this.#clock.now() };
    }
  };

  /** Closes the probe client of a removed backend. */
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

  #client(backend: BackendNode): UndiciClient {
    let c = this.#clients.get(backend);
    if (c === undefined) {
      const connect =
        backend.servername === undefined
          ? { timeout: this.#connectTimeoutMs }
          : { timeout: this.#connectTimeoutMs, servername: backend.servername };
      c = new Client(backend.origin, { connect, keepAliveTimeout: 2 * this.#opts.intervalMs });
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
