/**
 * A backend's HTTP/1.1 connection pool: the sidecar's own client, for requests and health checks
 * (../balancer/health-check.ts). Why not undici: on the hot path it allocates a fresh buffer per
 * socket read and copies every body byte into its WASM parser; this client reads into one
 * reused buffer per connection and hands body bytes on as views, which halves the proxy's CPU
 * per byte of a GET and takes the read buffers out of the GC's hands (bench/proxy/PERFORMANCE.md).
 *
 * One request per connection at a time (no pipelining: S3 backends do not pipeline well, and a
 * failed pipelined request takes its neighbours down). Idle connections are reused newest first
 * and closed after `keepAliveTimeoutMs`, or sooner when the backend's `Keep-Alive: timeout=N`
 * says it closes them sooner (less a margin, undici's keepAliveTimeoutThreshold: a request must
 * not go out on a connection the backend is closing). Connections older than
 * `maxConnectionAgeMs` are retired after their current exchange, so traffic re-spreads when
 * nodes join; at most `connections` at once, further exchanges wait in FIFO order. A bodiless
 * request whose kept-alive connection is lost before any answer is sent once more, on a new
 * connection (Exchange.replayable): the backend most likely closed it as the request went out.
 */
import { UpstreamConnection, type ConnectTarget, type ConnectionOwner } from './connection.ts';
import { UpstreamError } from './errors.ts';
import { Exchange } from './exchange.ts';
import type {
  UpstreamController,
  UpstreamDispatcher,
  UpstreamHandler,
  UpstreamRequestOptions,
} from './types.ts';

export interface UpstreamPoolOptions {
  /** Most connections at once; null = unbounded. */
  connections: number | null;
  keepAliveTimeoutMs: number;
  /** 0 = connections live as long as the backend keeps them. */
  maxConnectionAgeMs: number;
  connectTimeoutMs: number;
  /** TLS SNI for an https origin given by IP. */
  servername?: string | undefined;
  /** Small read buffers outside the process's large-buffer budget (./connection.ts). */
  smallReads?: boolean | undefined;
}

/** Taken off a backend's `Keep-Alive: timeout` hint for the time a request takes to reach it. */
export const KEEP_ALIVE_HINT_MARGIN_MS = 2000;

export class UpstreamPool implements UpstreamDispatcher, ConnectionOwner {
  readonly origin: string;
  private readonly target: ConnectTarget;
  private readonly opts: UpstreamPoolOptions;
  private readonly all = new Set<UpstreamConnection>();
  /** Free connections, most recently used last. */
  private idle: UpstreamConnection[] = [];
  private queue: Exchange[] = [];
  private isClosed = false;
  private closeWaiters: (() => void)[] = [];
  private sweepTimer: NodeJS.Timeout | undefined = undefined;

  constructor(origin: string, opts: UpstreamPoolOptions) {
    const url = new URL(origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`unsupported backend origin ${origin}`);
    }
    const tls = url.protocol === 'https:';
    this.origin = url.origin;
    this.opts = opts;
    this.target = {
      host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port ? Number(url.port) : tls ? 443 : 80,
      tls,
      servername: opts.servername,
      connectTimeoutMs: opts.connectTimeoutMs,
      smallReads: opts.smallReads,
    };
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Connections open (connecting, busy or idle); for tests and debugging. */
  get size(): number {
    return this.all.size;
  }

  dispatch(options: UpstreamRequestOptions, handler: UpstreamHandler): UpstreamController {
    const ex = new Exchange(options, handler);
    if (this.isClosed) {
      queueMicrotask(() => ex.fail(new UpstreamError('POOL_CLOSED', 'The backend pool is closed.')));
      return ex;
    }
    this.assign(ex);
    return ex;
  }

  private assign(ex: Exchange): void {
    const conn = this.takeIdle();
    if (conn !== undefined) conn.run(ex);
    else if (this.opts.connections === null || this.all.size < this.opts.connections) this.connect(ex);
    else {
      this.queue.push(ex);
      ex.queued();
    }
  }

  private connect(ex: Exchange): void {
    this.all.add(new UpstreamConnection(this, this.target, ex));
  }

  private takeIdle(): UpstreamConnection | undefined {
    const now = performance.now();
    for (let conn = this.idle.pop(); conn !== undefined; conn = this.idle.pop()) {
      if (conn.destroyed) continue;
      if (now - conn.idleSince >= this.idleLimitMs(conn) || this.expired(conn, now)) {
        conn.destroy();
        continue;
      }
      return conn;
    }
    return undefined;
  }

  /** How long `conn` may stay idle: ours, or less when the backend closes idle connections sooner. */
  private idleLimitMs(conn: UpstreamConnection): number {
    const hint = conn.keepAliveHintMs;
    const limit = this.opts.keepAliveTimeoutMs;
    return hint === undefined ? limit : Math.min(limit, hint - KEEP_ALIVE_HINT_MARGIN_MS);
  }

  private expired(conn: UpstreamConnection, now: number): boolean {
    return this.opts.maxConnectionAgeMs > 0 && now - conn.createdAt >= this.opts.maxConnectionAgeMs;
  }

  /** The next queued exchange that is still waiting (one aborted while queued is skipped). */
  private nextQueued(): Exchange | undefined {
    for (let ex = this.queue.shift(); ex !== undefined; ex = this.queue.shift()) {
      if (!ex.done) return ex;
    }
    return undefined;
  }

  /** `conn`'s exchange is over; its `idleSince` is when the last response byte came. */
  release(conn: UpstreamConnection): void {
    if (conn.destroyed) return;
    const now = performance.now();
    // Idle too long already (its exchange's client was slow to take the last bytes): the backend
    // may be closing it, and an upload sent on it would fail without a replay.
    if (this.expired(conn, now) || now - conn.idleSince >= this.idleLimitMs(conn)) {
      conn.destroy();
      return;
    }
    const next = this.nextQueued();
    if (next !== undefined) {
      conn.run(next);
      return;
    }
    if (this.isClosed) {
      conn.destroy();
      return;
    }
    this.idle.push(conn);
    this.armSweep();
  }

  /** Exchanges sent again after their reused connection was lost before any answer. */
  replays = 0;

  replay(ex: Exchange, err: Error): void {
    if (this.isClosed) {
      ex.fail(err);
      return;
    }
    this.replays++;
    // First in line: the lost connection's removal (which follows) opens a new one for it.
    this.queue.unshift(ex);
  }

  removed(conn: UpstreamConnection): void {
    if (!this.all.delete(conn)) return;
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    // A slot freed up: a waiting exchange gets a new connection.
    const next = this.nextQueued();
    if (next !== undefined) this.connect(next);
    this.checkClosed();
  }

  /** Closes connections idle past their limit (idleLimitMs); runs only while some are idle. */
  private armSweep(): void {
    if (this.sweepTimer !== undefined) return;
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = undefined;
      const now = performance.now();
      for (const conn of this.idle.slice()) {
        if (now - conn.idleSince >= this.idleLimitMs(conn)) conn.destroy();
      }
      if (this.idle.length > 0) this.armSweep();
    }, this.opts.keepAliveTimeoutMs);
    this.sweepTimer.unref();
  }

  private checkClosed(): void {
    if (!this.isClosed || this.all.size > 0 || this.queue.length > 0) return;
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    for (const w of this.closeWaiters.splice(0)) w();
  }

  close(): Promise<void> {
    this.isClosed = true;
    for (const conn of this.idle.splice(0)) conn.destroy();
    return new Promise((resolve) => {
      this.closeWaiters.push(resolve);
      this.checkClosed();
    });
  }

  destroy(): Promise<void> {
    this.isClosed = true;
    const err = new UpstreamError('POOL_CLOSED', 'The backend pool was destroyed.');
    for (const ex of this.queue.splice(0)) ex.fail(err);
    for (const conn of [...this.all]) conn.destroy(err);
    return this.close();
  }
}
