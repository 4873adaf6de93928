/**
 * A delaying TCP relay (node:net) placed in front of a server: the test bed's way to slow a node
 * down or make it unreachable without root-only tooling (tc netem, network namespaces).
 */
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';

/** A running relay; see {@link startRelay}. */
export interface Relay {
  /** The port the relay listens on (127.0.0.1); kept across pause()/resume(). */
  readonly port: number;
  /** http://127.0.0.1:<port> — convenient for HTTP servers behind the relay. */
  readonly url: string;
  /** The added one-way latency currently applied, in ms. */
  readonly delayMs: number;
  /** Bytes currently queued for delayed delivery across all connections (for tests). */
  readonly queuedBytes: number;
  /** Number of open relayed connections. */
  readonly connections: number;
  /**
   * Adds `ms` of latency to every chunk in both directions, on existing and new connections
   * (a chunk is held for the delay in force when it arrived). 0 removes it.
   */
  setDelay(ms: number): void;
  /** Closes the listener (new connections are refused) and destroys every open connection. */
  pause(): Promise<void>;
  /** Listens again on the same port. No-op when not paused. */
  resume(): Promise<void>;
  /** Stops for good: like pause(), idempotent. */
  close(): Promise<void>;
}

/** Options for {@link startRelay}. */
export interface RelayOptions {
  /** Where connections are forwarded. */
  target: { host?: string; port: number };
  /** Port to listen on; default 0 (the kernel picks). */
  port?: number;
  /** Initial delay in ms; default 0. */
  delayMs?: number;
}

/** Above this many queued bytes in one direction the source is paused (memory bound on uploads). */
const HIGH_WATER = 1 << 20;

/**
 * One direction of a relayed connection: chunks from `src` are written to `dst` no earlier than
 * their arrival time plus the delay, in arrival order.
 */
class DelayedPipe {
  readonly #src: Socket;
  readonly #dst: Socket;
  readonly #delay: () => number;
  readonly #queue: { chunk: Buffer; due: number }[] = [];
  #queued = 0;
  #timer: NodeJS.Timeout | undefined;
  #ended = false;
  #destroyAfterEnd = false;
  #lastDue = 0;

  constructor(src: Socket, dst: Socket, delay: () => number) {
    this.#src = src;
    this.#dst = dst;
    this.#delay = delay;
    src.on('data', (chunk: Buffer) => this.#push(chunk));
    src.on('end', () => this.finish());
    dst.on('drain', () => {
      if (this.#queued < HIGH_WATER) src.resume();
    });
  }

  get queued(): number {
    return this.#queued;
  }

  #push(chunk: Buffer): void {
    const d = this.#delay();
    if (d <= 0 && this.#queue.length === 0) {
      if (!this.#dst.write(chunk)) this.#src.pause();
      return;
    }
    // Due times never go backwards, so lowering the delay cannot reorder bytes.
    const due = Math.max(Date.now() + d, this.#lastDue);
    this.#lastDue = due;
    this.#queue.push({ chunk, due });
    this.#queued += chunk.length;
    if (this.#queued >= HIGH_WATER) this.#src.pause();
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer !== undefined) return;
    const head = this.#queue[0];
    if (head === undefined) return;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#flush();
      },
      Math.max(0, head.due - Date.now()),
    );
  }

  #flush(): void {
    const now = Date.now();
    let ok = true;
    while (this.#queue.length > 0 && this.#queue[0]!.due <= now) {
      const { chunk } = this.#queue.shift()!;
      this.#queued -= chunk.length;
      if (this.#dst.destroyed) return;
      ok = this.#dst.write(chunk) && ok;
    }
    if (ok && this.#queued < HIGH_WATER && !this.#src.destroyed) this.#src.resume();
    if (this.#queue.length === 0) {
      if (this.#ended && !this.#dst.destroyed) {
        const dst = this.#dst;
        if (this.#destroyAfterEnd) dst.end(() => dst.destroy());
        else dst.end();
      }
    } else {
      this.#schedule();
    }
  }

  /**
   * The source is done: end the destination once the queue is flushed. With `closed` (the
   * source socket is gone altogether, so nothing sent back could be delivered) the destination is
   * then destroyed too, rather than left half-open.
   */
  finish(closed = false): void {
    if (closed) this.#destroyAfterEnd = true;
    if (this.#ended) {
      if (closed && this.#queue.length === 0 && !this.#dst.destroyed) {
        const dst = this.#dst;
        dst.end(() => dst.destroy());
      }
      return;
    }
    this.#ended = true;
    this.#flush();
  }

  dispose(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue.length = 0;
    this.#queued = 0;
  }
}

/** Starts a relay on 127.0.0.1 forwarding to `opts.target`; resolves once it listens. */
export async function startRelay(opts: RelayOptions): Promise<Relay> {
  let delay = opts.delayMs ?? 0;
  const targetHost = opts.target.host ?? '127.0.0.1';
  const conns = new Set<{ a: Socket; b: Socket; pipes: DelayedPipe[] }>();
  let server: Server | undefined;
  let closed = false;
  let port = opts.port ?? 0;

  const onConnection = (client: Socket): void => {
    const upstream = connect({ host: targetHost, port: opts.target.port, allowHalfOpen: true });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const conn = { a: client, b: upstream, pipes: [] as DelayedPipe[] };
    conn.pipes.push(new DelayedPipe(client, upstream, () => delay));
    conn.pipes.push(new DelayedPipe(upstream, client, () => delay));
    conns.add(conn);
    const teardown = (): void => {
      if (!conns.delete(conn)) return;
      for (const p of conn.pipes) p.dispose();
      client.destroy();
      upstream.destroy();
    };
    // A reset on either side resets the other: the client sees what it would see without us.
    client.on('error', teardown);
    upstream.on('error', teardown);
    // A clean close of one side is not the end of the connection: the other direction may still
    // hold delayed bytes, and each pipe ends its destination once those are flushed. Forget the
    // connection once both sides are closed.
    let closedSides = 0;
    const onClose = (from: DelayedPipe, hadError: boolean): void => {
      if (hadError) return teardown();
      from.finish(true); // nothing can reach the closed side any more: close the other one too
      if (++closedSides === 2) teardown();
    };
    const [fromClient, fromUpstream] = conn.pipes as [DelayedPipe, DelayedPipe];
    client.on('close', (hadError: boolean) => onClose(fromClient, hadError));
    upstream.on('close', (hadError: boolean) => onClose(fromUpstream, hadError));
  };

  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const srv = createServer({ allowHalfOpen: true, noDelay: true }, onConnection);
      srv.once('error', reject);
      srv.listen({ host: '127.0.0.1', port }, () => {
        srv.off('error', reject);
        const addr = srv.address();
        if (typeof addr === 'object' && addr !== null) port = addr.port;
        server = srv;
        resolve();
      });
    });

  const shut = async (): Promise<void> => {
    const srv = server;
    server = undefined;
    const closedP = srv ? new Promise<void>((r) => srv.close(() => r())) : Promise.resolve();
    for (const c of [...conns]) {
      for (const p of c.pipes) p.dispose();
      c.a.destroy();
      c.b.destroy();
      conns.delete(c);
    }
    await closedP;
  };

  await listen();

  return {
    get port() {
      return port;
    },
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    get delayMs() {
      return delay;
    },
    get queuedBytes() {
      let n = 0;
      for (const c of conns) for (const p of c.pipes) n += p.queued;
      return n;
    },
    get connections() {
      return conns.size;
    },
    setDelay(ms: number) {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`relay delay must be >= 0 ms, got ${ms}`);
      delay = ms;
    },
    pause: shut,
    async resume() {
      if (closed || server !== undefined) return;
      await listen();
    },
    async close() {
      closed = true;
      await shut();
    },
  };
}
