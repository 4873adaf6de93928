/**
 * One keep-alive connection to a backend, running one {@link Exchange} at a time. Plain TCP reads
 * go into one buffer per connection, reused for every read (Node's `onread` option): no
 * allocation per read, and nothing for the GC to sweep — a streaming proxy otherwise allocates a
 * fresh 64 KiB buffer per read and leaves it to the GC (bench/proxy/PERFORMANCE.md, "Memory").
 * That buffer starts small and grows once, the first time a read fills it: only connections
 * that stream large bodies hold large buffers, not those carrying uploads' short answers.
 *
 * TLS connections read with ordinary 'data' events (each chunk its own buffer): a TLSSocket with
 * `onread` decrypts every record of one network read into the same buffer and delivers them all,
 * paused or not, so a chunk still being written to the client would be overwritten.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { loadTls } from '../node-builtins.ts';
import { UpstreamError } from './errors.ts';
import type { Exchange } from './exchange.ts';
import { freeWholeBuffer } from './release.ts';

/**
 * Bytes per socket read for the first {@link LARGE_READ_BUFFERS} connections. Four times libuv's
 * 64 KiB: a quarter of the reads and client writes per byte (a 64 MiB GET through the proxy:
 * ~20 ms CPU instead of ~30, and ≥ 0.95× direct throughput instead of 0.78–0.92 with MinIO on its
 * own core) for 192 KiB more per busy connection. Measured in bench/proxy/PERFORMANCE.md ("Read
 * buffer size").
 */
export const READ_BUFFER_BYTES = 256 * 1024;

/**
 * Bytes per read for connections beyond {@link LARGE_READ_BUFFERS}. Half the large size: 64 KiB
 * (libuv's own) cost ~50 % more proxy CPU per byte at 64 concurrent 64 MiB GETs (28–30 ms per GET
 * instead of 18–20, and 0.80–0.83× direct instead of 0.94×, MinIO on its own core) for 3 MiB less.
 */
export const SMALL_READ_BUFFER_BYTES = 128 * 1024;

/**
 * How many connections in the process read {@link READ_BUFFER_BYTES} at a time; the ones whose
 * buffer grows while that many exist read {@link SMALL_READ_BUFFER_BYTES}. Up to 16 concurrent
 * large transfers all get the large buffer; 64 concurrent 64 MiB GETs hold 16 × 256 +
 * 48 × 128 KiB = 10 MiB of read buffers instead of 16 (peak RSS, bench/proxy/PERFORMANCE.md).
 * Connections that carry only small responses keep their first 16 KiB buffer
 * ({@link SMALL_ANSWER_READ_BYTES}).
 */
export const LARGE_READ_BUFFERS = 16;
let largeReadBuffersInUse = 0;
/** Bytes of read buffers not yet freed, over all connections. */
let readBufferBytesAllocated = 0;

/** Connections holding a large read buffer now (for tests). */
export function largeReadBuffers(): number {
  return largeReadBuffersInUse;
}

/** Bytes of read buffers allocated and not yet freed, over all connections (for tests). */
export function readBufferBytes(): number {
  return readBufferBytesAllocated;
}

export interface ConnectTarget {
  host: string;
  port: number;
  tls: boolean;
  /** TLS SNI (the endpoint's hostname when the address is an IP). */
  servername: string | undefined;
  connectTimeoutMs: number;
  /**
   * Read into a small buffer of its own, outside the {@link LARGE_READ_BUFFERS} budget: for
   * connections that only ever see small answers (health checks), which would otherwise take
   * the large buffers' places for their whole lives.
   */
  smallReads?: boolean | undefined;
}

/**
 * Bytes per read until a read fills them (then the connection grows its buffer to
 * {@link READ_BUFFER_BYTES} or {@link SMALL_READ_BUFFER_BYTES}), and for good for
 * {@link ConnectTarget.smallReads} connections. A response head, an upload's answer or a small
 * object fits: 64 concurrent 64 MiB uploads held 10 MiB of large buffers for 64 answers of a few
 * hundred bytes each (bench/proxy/PERFORMANCE.md, session 11).
 */
export const SMALL_ANSWER_READ_BYTES = 16 * 1024;

/** What a connection tells its pool. */
export interface ConnectionOwner {
  /** The connection is free and may be reused (not destroyed). */
  release(conn: UpstreamConnection): void;
  /** The connection is gone (destroyed or closed); called once. */
  removed(conn: UpstreamConnection): void;
  /** `ex` lost this connection before any answer and may be sent again (Exchange.replayable). */
  replay(ex: Exchange, err: Error): void;
}

export class UpstreamConnection {
  readonly socket: Socket;
  readonly createdAt = performance.now();
  idleSince = 0;
  /** The backend's `Keep-Alive: timeout` on its last response, ms (./pool.ts idleLimitMs). */
  keepAliveHintMs: number | undefined = undefined;
  destroyed = false;
  private exchange: Exchange | undefined;
  private connected = false;
  private reusable = true;
  /** The exchange ended while its handler still held read-buffer bytes: free on its resume(). */
  private releaseOnResume = false;
  private connectTimer: NodeJS.Timeout | undefined;
  private readonly owner: ConnectionOwner;
  /** This connection counts toward {@link LARGE_READ_BUFFERS} until destroyed. */
  private largeReadBuffer = false;
  /** The read buffer grows no more: it has grown, or the connection is TLS or smallReads. */
  private readBufferFinal = false;
  /** The buffer every plain-TCP read goes into; freed once the connection is gone. */
  private readBuffer: Buffer | undefined = undefined;
  /** The last exchange given bytes of the read buffer: while paused, its handler holds views. */
  private lastReader: Exchange | undefined = undefined;
  /** Destroyed while this exchange's handler still held views of the read buffer. */
  private readBufferHeldBy: Exchange | undefined = undefined;
  /** Inside onRead: the chunk being handed out stays valid until the handler returns. */
  private inRead = false;
  private freeAfterRead = false;

  /** Connects and runs `first` once connected (a connect failure fails `first`). */
  constructor(owner: ConnectionOwner, target: ConnectTarget, first: Exchange) {
    this.owner = owner;
    this.exchange = first;
    if (target.tls) {
      this.readBufferFinal = true; // each chunk its own buffer: nothing to grow
      this.socket = loadTls().connect({
        host: target.host,
        port: target.port,
        ...(target.servername === undefined ? {} : { servername: target.servername }),
      });
      this.socket.on('data', (chunk: Buffer) => {
        if (!this.onRead(chunk.length, chunk)) this.socket.pause();
      });
    } else {
      this.readBufferFinal = target.smallReads === true;
      this.readBuffer = Buffer.allocUnsafeSlow(SMALL_ANSWER_READ_BYTES);
      readBufferBytesAllocated += SMALL_ANSWER_READ_BYTES;
      // A function: Node asks it for the buffer of each next read, so the buffer can grow.
      const onread = { buffer: this.nextReadBuffer, callback: this.onRead };
      this.socket = netConnect({ host: target.host, port: target.port, onread });
    }
    if (target.connectTimeoutMs > 0) {
      this.connectTimer = setTimeout(() => {
        this.destroy(new UpstreamError('CONNECT_TIMEOUT', 'Connecting to the backend timed out.'));
      }, target.connectTimeoutMs);
    }
    this.socket.setNoDelay(true);
    this.socket.once(target.tls ? 'secureConnect' : 'connect', this.onConnect);
    this.socket.on('error', this.onError);
    this.socket.on('end', this.onEnd);
    this.socket.on('close', this.onClose);
  }

  private readonly onConnect = (): void => {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    this.connected = true;
    this.socket.setKeepAlive(true, 60_000);
    const first = this.exchange!;
    if (first.done) {
      // Aborted while connecting: the connection is fine, hand it back.
      this.exchange = undefined;
      this.idleSince = performance.now();
      this.owner.release(this);
      return;
    }
    first.start(this, false);
  };

  /** Runs `ex` on this (connected, idle) connection. */
  run(ex: Exchange): void {
    this.exchange = ex;
    ex.start(this, true);
  }

  private readonly onRead = (n: number, buf: Uint8Array): boolean => {
    const ex = this.exchange;
    if (ex === undefined || ex.done) {
      // Bytes nobody asked for: the backend is out of step with us.
      this.destroy();
      return false;
    }
    this.lastReader = ex;
    this.inRead = true;
    ex.onBytes(buf as Buffer, n);
    this.inRead = false;
    if (this.freeAfterRead) {
      this.freeAfterRead = false;
      this.freeReadBuffer();
    }
    if (n === buf.length && !this.readBufferFinal && !this.destroyed) this.growReadBuffer();
    // The exchange may have ended and the pool handed this connection to the next one.
    return !this.destroyed && !(this.exchange?.paused ?? false);
  };

  /**
   * The buffer Node reads into next (asked after every read). Undefined only once freed, after
   * the socket was destroyed: Node then keeps its last buffer, which a closed handle never fills.
   */
  private readonly nextReadBuffer = (): Uint8Array => this.readBuffer as Uint8Array;

  /**
   * A read filled the first buffer: a body is streaming. Later reads go into a large buffer
   * while the process has fewer than {@link LARGE_READ_BUFFERS}, else a mid-sized one. The
   * first buffer is not freed: a paused handler may still be writing views of it to its client.
   * It is left to the GC (16 KiB, once per connection).
   */
  private growReadBuffer(): void {
    this.readBufferFinal = true;
    this.largeReadBuffer = largeReadBuffersInUse < LARGE_READ_BUFFERS;
    if (this.largeReadBuffer) largeReadBuffersInUse++;
    const size = this.largeReadBuffer ? READ_BUFFER_BYTES : SMALL_READ_BUFFER_BYTES;
    readBufferBytesAllocated += size - (this.readBuffer?.length ?? 0);
    this.readBuffer = Buffer.allocUnsafeSlow(size);
  }

  /** The exchange's handler paused: no further reads until it resumes. */
  pauseFor(ex: Exchange): void {
    if (ex === this.exchange && !this.destroyed) this.socket.pause();
  }

  /** The exchange's handler resumed: read on (or free the connection if its exchange ended). */
  resumeFor(ex: Exchange): void {
    if (ex === this.readBufferHeldBy) {
      this.readBufferHeldBy = undefined;
      this.releaseReadBuffer();
      return;
    }
    if (ex !== this.exchange || this.destroyed) return;
    if (this.releaseOnResume) {
      this.releaseOnResume = false;
      this.exchange = undefined;
      this.lastReader = undefined; // resumed: it holds no views
      this.socket.resume();
      this.owner.release(this);
      return;
    }
    this.socket.resume();
  }

  /** `ex` ended while paused and will never resume (see Exchange.abort): closed, not reused. */
  abandon(ex: Exchange): void {
    if (ex === this.readBufferHeldBy) {
      // Destroyed already, its buffer kept for views still out: now left to the GC.
      this.readBufferHeldBy = undefined;
      return;
    }
    if (ex !== this.exchange || !this.releaseOnResume) return;
    this.releaseOnResume = false;
    this.exchange = undefined;
    this.destroy();
  }

  /** Called by the exchange once it ended. */
  exchangeEnded(ex: Exchange, reusable: boolean): void {
    if (ex !== this.exchange) return;
    if (!reusable || !this.reusable) {
      this.exchange = undefined;
      this.destroy();
      return;
    }
    // Idle from the response's last byte, when the backend's own keep-alive timer starts, not
    // from the release: a slow client can keep a paused exchange (and so this connection) for
    // longer than the backend keeps an idle connection open.
    this.idleSince = performance.now();
    if (ex.paused) {
      this.releaseOnResume = true;
      return;
    }
    this.exchange = undefined;
    this.lastReader = undefined; // not paused: it holds no views
    this.owner.release(this);
  }

  /** Whatever happens, this connection takes no further exchange. */
  forbidReuse(): void {
    this.reusable = false;
  }

  /** The socket failed under `ex`: replayed elsewhere by the owner when it may be, else failed. */
  private lose(ex: Exchange, err: Error): void {
    this.exchange = undefined;
    if (ex.replayable()) {
      ex.detachForReplay();
      this.owner.replay(ex, err);
    } else {
      ex.fail(err);
    }
  }

  private readonly onError = (err: Error): void => {
    const ex = this.exchange;
    if (ex !== undefined && !ex.done) this.lose(ex, err);
    this.destroy();
  };

  private readonly onEnd = (): void => {
    const ex = this.exchange;
    this.reusable = false;
    if (ex !== undefined && !ex.done) {
      if (ex.replayable())
        this.lose(ex, new UpstreamError('SOCKET_CLOSED', 'The backend closed the connection.'));
      else ex.onSocketEnd();
    }
    this.destroy();
  };

  private readonly onClose = (): void => {
    const ex = this.exchange;
    if (ex !== undefined && !ex.done) {
      this.lose(ex, new UpstreamError('SOCKET_CLOSED', 'The backend closed the connection.'));
    }
    this.destroy();
  };

  /** Closes the socket (failing a running exchange with `err`, if given) and tells the owner. */
  destroy(err?: Error): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.largeReadBuffer) largeReadBuffersInUse--;
    this.largeReadBuffer = false;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    const ex = this.exchange;
    this.exchange = undefined;
    if (ex !== undefined && !ex.done) {
      ex.fail(err ?? new UpstreamError('SOCKET_CLOSED', 'The connection to the backend was closed.'));
    }
    this.socket.destroy();
    // A closed handle reads no more. A paused reader's handler may still be writing views of the
    // buffer to its client (whether or not it is still this connection's exchange): freed when
    // it resumes (never, if it never does: then the GC).
    const reader = this.lastReader;
    this.lastReader = undefined;
    if (reader?.paused) this.readBufferHeldBy = reader;
    else this.releaseReadBuffer();
    this.owner.removed(this);
  }

  /**
   * Frees the read buffer's memory now instead of at some later major GC: connections come and
   * go with keep-alive limits and idle timeouts, and each left 128–256 KiB behind until then
   * (two generations of 64 connections' buffers, ~20 MiB, at the peak of 64 concurrent 64 MiB
   * GETs; bench/proxy/PERFORMANCE.md, session 6).
   */
  private releaseReadBuffer(): void {
    // Destroyed from inside a handler (an abort in onResponseData): its chunk is still in use.
    if (this.inRead) this.freeAfterRead = true;
    else this.freeReadBuffer();
  }

  private freeReadBuffer(): void {
    const buf = this.readBuffer;
    if (buf === undefined) return;
    this.readBuffer = undefined;
    readBufferBytesAllocated -= buf.length;
    freeWholeBuffer(buf);
  }

  get isConnected(): boolean {
    return this.connected;
  }
}
