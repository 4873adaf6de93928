/**
 * A minimal streaming forwarder: GET <path> → the backend's <path> with the client's own headers
 * (Host included, as the nginx peer passes them), body streamed with backpressure, through either
 * undici's Pool (dispatch, as the proxy used it until proxy/http1/) or the proxy's own
 * UpstreamPool. Nothing else (no policy, signing, logs, metrics). bench/proxy/client.ts runs both
 * (they differ only in the backend client); bench/proxy/run.ts runs the second in front of MinIO
 * as the floor of any Node relay (a client's signature still verifies: nothing it signed
 * changes). Usage: `node client-forwarder.ts undici|sluice BACKEND_ORIGIN PORT`; prints "ready"
 * once listening.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import { UpstreamPool } from '../../proxy/http1/pool.ts';
import type { UpstreamController, UpstreamHandler } from '../../proxy/http1/types.ts';

const [kind, origin, port] = process.argv.slice(2) as [string, string, string];
const BACKEND_HOST = new URL(origin).host;

/**
 * Headers that describe this hop or a request body, not the GET the floor forwards (it sends
 * none): passed on, a backend would wait for a body, and undici refuses some of them outright.
 */
const NOT_FORWARDED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
  'transfer-encoding',
  'content-length',
  'expect',
]);

/** The client's end-to-end headers, and a Host if it sent none. */
function endToEnd(raw: string[]): string[] {
  const out: string[] = [];
  let host = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (NOT_FORWARDED.has(name)) continue;
    if (name === 'host') host = true;
    out.push(raw[i]!, raw[i + 1]!);
  }
  if (!host) out.push('host', BACKEND_HOST);
  return out;
}

/**
 * A client that hangs up mid-response ends the backend request too, as the proxy and nginx do.
 * Without this the backend went on holding (paused) or sending the rest of every cut-off
 * response for up to the body timeout: after a 64 MiB c=64 round, into the next path's round.
 */
function abortWhenClientLeaves(res: ServerResponse, abort: (err: Error) => void): void {
  res.once('close', () => {
    if (!res.writableFinished) abort(new Error('client connection closed'));
  });
}

/** undici: its chunks are owned, so a write returning false is the only reason to pause. */
function viaUndici(pool: Pool, path: string, headers: string[], res: ServerResponse): void {
  const handler: Dispatcher.DispatchHandler = {
    // undici takes a handler without onRequestStart for its older callback API.
    onRequestStart(controller) {
      abortWhenClientLeaves(res, (err) => controller.abort(err));
    },
    onResponseStart(_c, status, headers: IncomingHttpHeaders) {
      res.writeHead(status, { 'content-length': headers['content-length'] });
    },
    onResponseData(c, chunk: Buffer) {
      if (!res.write(chunk)) {
        c.pause();
        res.once('drain', () => c.resume());
      }
    },
    onResponseEnd() {
      res.end();
    },
    onResponseError(_c, err) {
      res.destroy(err);
    },
  };
  pool.dispatch({ method: 'GET', path, headers }, handler);
}

/** The own client: chunks are borrowed, so pause while a write holding one is pending. */
function viaSluice(pool: UpstreamPool, path: string, headers: string[], res: ServerResponse): void {
  let unflushed = 0;
  let controller: UpstreamController | undefined;
  const flushed = (): void => {
    if (--unflushed === 0) controller?.resume();
  };
  const handler: UpstreamHandler = {
    onResponseStart(c, status, head) {
      controller = c;
      res.writeHead(status, { 'content-length': head.contentLength });
    },
    onResponseData(c, chunk) {
      unflushed++;
      res.write(chunk, flushed);
      res.socket?.uncork(); // as the proxy does (proxy/pipeline/forward.ts): no pause when written
      if (res.writableLength > 0) c.pause();
    },
    onResponseEnd() {
      res.end();
    },
    onResponseError(_c, err) {
      res.destroy(err);
    },
  };
  const ctl = pool.dispatch(
    { method: 'GET', path, headers, body: null, headersTimeout: 30_000, bodyTimeout: 30_000 },
    handler,
  );
  abortWhenClientLeaves(res, (err) => ctl.abort(err));
}

const undiciPool = kind === 'undici' ? new Pool(origin, { connections: 128, pipelining: 1 }) : undefined;
const ownPool =
  kind === 'sluice'
    ? new UpstreamPool(origin, {
        connections: 128,
        keepAliveTimeoutMs: 4_000,
        maxConnectionAgeMs: 0,
        connectTimeoutMs: 2_000,
      })
    : undefined;
createServer((req, res) => {
  if (req.method !== 'GET') {
    res.writeHead(501, { 'content-length': '0' }).end(); // it relays GETs only
    return;
  }
  if (undiciPool) viaUndici(undiciPool, req.url!, endToEnd(req.rawHeaders), res);
  else viaSluice(ownPool!, req.url!, endToEnd(req.rawHeaders), res);
}).listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\n'));
