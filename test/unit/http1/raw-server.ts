/**
 * Test helpers for the backend HTTP/1.1 client (proxy/http1/): a real TCP "backend" on
 * 127.0.0.1 port 0 that parses the requests it gets and answers with raw bytes each test writes,
 * so wire behaviour (split heads, framing, early answers, stalls) is exact; and a recording
 * handler that keeps every callback the client makes.
 */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { UpstreamPool, type UpstreamPoolOptions } from '../../../proxy/http1/pool.ts';
import type { UpstreamController, UpstreamRequestOptions } from '../../../proxy/http1/types.ts';

export interface SeenRequest {
  method: string;
  path: string;
  /** Lower-cased names, repeats joined with ", ". */
  headers: Record<string, string>;
  /** Decoded body (de-chunked when sent chunked). */
  body: Buffer;
}

export interface RawConn {
  /** 0, 1, … in accept order. */
  id: number;
  socket: Socket;
  /** Every byte received, in order. */
  received: Buffer;
  /** Complete requests parsed so far. */
  requests: SeenRequest[];
  /** The client ended its side (FIN) or the socket closed. */
  ended: boolean;
  closed: boolean;
}

/** Answers one complete request (or, with `onHead`, a request whose head is in). */
export type Respond = (conn: RawConn, req: SeenRequest) => void;

export interface RawServer {
  origin: string;
  conns: RawConn[];
  /** What the server does with each complete request; replace at will. */
  respond: Respond;
  /** Called once a request head is in, before its body (for answers that do not wait). */
  onHead: Respond | undefined;
}

/** A minimal response: status line, headers, Content-Length of `body`, body. */
export function response(body: string | Buffer = '', extra: string[] = [], status = '200 OK'): Buffer {
  const b = Buffer.from(body);
  const head = [`HTTP/1.1 ${status}`, ...extra, `Content-Length: ${b.length}`, '', ''].join('\r\n');
  return Buffer.concat([Buffer.from(head, 'latin1'), b]);
}

/** `parts` as a chunked body (last chunk included). */
export function chunkedBody(parts: (string | Buffer)[]): Buffer {
  const out: Buffer[] = [];
  for (const p of parts) {
    const b = Buffer.from(p);
    out.push(Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n'));
  }
  out.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(out);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Writes `data` in pieces of `size` bytes, letting each go out on its own. */
export async function writeSlowly(socket: Socket, data: Buffer, size = 1): Promise<void> {
  for (let i = 0; i < data.length && !socket.destroyed; i += size) {
    socket.write(data.subarray(i, i + size));
    await sleep(1);
  }
}

/** Parses a chunked body at `buf[from…]`: the body and the index after it, or null if incomplete. */
function dechunk(buf: Buffer, from: number): { body: Buffer; end: number } | null {
  const parts: Buffer[] = [];
  let i = from;
  for (;;) {
    const eol = buf.indexOf('\r\n', i);
    if (eol < 0) return null;
    const sizeText = buf.toString('latin1', i, eol);
    assert.match(sizeText, /^[0-9a-f]+$/i, 'chunk size line the client sent');
    const size = parseInt(sizeText, 16);
    i = eol + 2;
    if (size === 0) {
      if (buf.length < i + 2) return null;
      assert.equal(buf.toString('latin1', i, i + 2), '\r\n', 'no trailers from the client');
      return { body: Buffer.concat(parts), end: i + 2 };
    }
    if (buf.length < i + size + 2) return null;
    parts.push(buf.subarray(i, i + size));
    assert.equal(buf.toString('latin1', i + size, i + size + 2), '\r\n', 'CRLF after chunk data');
    i += size + 2;
  }
}

/** Parses requests out of what `conn` received from `offset`; returns the new offset. */
function parseRequests(srv: RawServer, conn: RawConn, offset: number, headSeen: Set<number>): number {
  for (;;) {
    const buf = conn.received;
    const headEnd = buf.indexOf('\r\n\r\n', offset);
    if (headEnd < 0) return offset;
    const lines = buf.toString('latin1', offset, headEnd).split('\r\n');
    const [method, path, version] = lines[0]!.split(' ');
    assert.equal(version, 'HTTP/1.1', 'request line the client sent');
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const req: SeenRequest = { method: method!, path: path!, headers, body: Buffer.alloc(0) };
    if (srv.onHead && !headSeen.has(offset)) {
      headSeen.add(offset);
      srv.onHead(conn, req);
    }
    const bodyStart = headEnd + 4;
    let end: number;
    if (headers['transfer-encoding'] === 'chunked') {
      const d = dechunk(buf, bodyStart);
      if (d === null) return offset;
      req.body = d.body;
      end = d.end;
    } else {
      const length = Number(headers['content-length'] ?? '0');
      if (buf.length < bodyStart + length) return offset;
      req.body = buf.subarray(bodyStart, bodyStart + length);
      end = bodyStart + length;
    }
    conn.requests.push(req);
    srv.respond(conn, req);
    offset = end;
  }
}

/** Starts a raw backend that answers every request with `respond` (default: 200 "ok"). */
export async function startRawServer(t: TestContext, respond?: Respond): Promise<RawServer> {
  const sockets = new Set<Socket>();
  const srv: RawServer = {
    origin: '',
    conns: [],
    respond: respond ?? ((c) => c.socket.write(response('ok'))),
    onHead: undefined,
  };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    const conn: RawConn = {
      id: srv.conns.length,
      socket,
      received: Buffer.alloc(0),
      requests: [],
      ended: false,
      closed: false,
    };
    srv.conns.push(conn);
    let offset = 0;
    const headSeen = new Set<number>();
    socket.on('data', (d: Buffer) => {
      conn.received = Buffer.concat([conn.received, d]);
      offset = parseRequests(srv, conn, offset, headSeen);
    });
    socket.on('end', () => {
      conn.ended = true;
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      conn.ended = true;
      conn.closed = true;
      sockets.delete(socket);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  srv.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return srv;
}

/** A pool for `origin` (destroyed after the test) with test-friendly defaults. */
export function makePool(
  t: TestContext,
  origin: string,
  opts: Partial<UpstreamPoolOptions> = {},
): UpstreamPool {
  const pool = new UpstreamPool(origin, {
    connections: null,
    keepAliveTimeoutMs: 30_000,
    maxConnectionAgeMs: 0,
    connectTimeoutMs: 10_000,
    ...opts,
  });
  t.after(() => pool.destroy());
  return pool;
}

export function request(over: Partial<UpstreamRequestOptions> = {}): UpstreamRequestOptions {
  return {
    method: 'GET',
    path: '/bucket/key',
    headers: ['host', 'backend'],
    body: null,
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
    ...over,
  };
}

/** Everything one exchange did, as the handler saw it. */
export interface Recorded {
  /** Callback names in call order. */
  events: string[];
  status: number;
  statusMessage: string;
  headers: Record<string, string>;
  rawHeaders: readonly string[];
  /** Response body (copied: chunks are borrowed). */
  body: Buffer;
  error: (Error & { code?: string }) | undefined;
  /** From dispatch (the same object the callbacks get). */
  controller: UpstreamController | undefined;
  /** Settles at onResponseEnd or onResponseError. */
  done: Promise<void>;
}

/**
 * Dispatches `req` with a handler that records every callback; also into `log` as
 * "<path> <event>", to see the order across exchanges.
 */
export function record(
  pool: UpstreamPool,
  req: UpstreamRequestOptions = request(),
  log: string[] = [],
): Recorded {
  const chunks: Buffer[] = [];
  let settle!: () => void;
  const rec: Recorded = {
    events: [],
    status: 0,
    statusMessage: '',
    headers: {},
    rawHeaders: [],
    body: Buffer.alloc(0),
    error: undefined,
    controller: undefined,
    done: new Promise((r) => (settle = r)),
  };
  const note = (event: string): void => {
    rec.events.push(event);
    log.push(`${req.path} ${event}`);
  };
  rec.controller = pool.dispatch(req, {
    onRequestStart(c) {
      rec.controller = c;
      note('requestStart');
    },
    onRequestSent() {
      note('requestSent');
    },
    onResponseStart(c, status, head, statusMessage) {
      note('responseStart');
      rec.status = status;
      rec.statusMessage = statusMessage;
      rec.headers = head.headers;
      rec.rawHeaders = c.rawHeaders;
    },
    onResponseData(_c, chunk) {
      if (rec.events.at(-1) !== 'data') note('data');
      chunks.push(Buffer.from(chunk));
    },
    onResponseEnd() {
      note('responseEnd');
      rec.body = Buffer.concat(chunks);
      settle();
    },
    onResponseError(c, err) {
      rec.controller ??= c;
      note('responseError');
      rec.body = Buffer.concat(chunks);
      rec.error = err;
      settle();
    },
  });
  return rec;
}
