/**
 * Assembles a running proxy from a validated {@link ProxyConfig}: the S3 listener, the admin
 * listener, backend pools, signers with credential reload, and the lifecycle (readiness, drain
 * on shutdown, keep-alive bounds).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { http } from './node-builtins.ts';
import type { AddressInfo, Socket } from 'node:net';
import type { DestinationStream } from 'pino';
import { Balancer } from './balancer/index.ts';
import { createStoreSync } from './balancer/store-sync.ts';
import type { BalancerInit } from './balancer/index.ts';
import type { BackendPool } from './balancer/types.ts';
import type { PodPolicyDocument, ProxyConfig } from './config/types.ts';
import { Signers, watchFiles } from './credentials.ts';
import { Errors, ProxyError, renderS3Error } from './errors.ts';
import type { ErrorSpec } from './errors.ts';
import { createAdminServer, defaultAdminRoutes } from './admin.ts';
import type { AdminRoutes } from './admin.ts';
import { createLogger, flushLog } from './log.ts';
import type { Logger } from './log.ts';
import { ProxyMetrics } from './metrics.ts';
import { PolicyMetrics } from './policy/metrics.ts';
import { PolicyState } from './policy/reload.ts';
import type { AttemptRunner } from './pipeline/attempt.ts';
import { nextRequestId } from './pipeline/context.ts';
import { createRequestHandler } from './pipeline/handler.ts';
import type { PoolFactory } from './balancer/types.ts';

/** Optional parts a caller (tests, the balancer wiring) may replace. */
export interface ProxyOptions {
  /** Builds each store's backend pool; default the balancer's (proxy/balancer/). */
  poolFactory?: PoolFactory;
  /** How attempts run (retries); default the balancer's retrying runner. */
  runner?: AttemptRunner;
  /** Balancer tuning (tests, benchmark: algorithm defaults, check intervals, clock, prober). */
  balancer?: Omit<BalancerInit, 'registry' | 'localZone'>;
  /** Log destination (default stdout). */
  logDestination?: DestinationStream;
  /** Poll interval for credential files, ms (default 10 s; change events do the real work). */
  credentialPollMs?: number;
}

/** A running proxy. */
export interface ProxyHandle {
  /** http://host:port of the S3 listener. */
  readonly url: string;
  /** http://host:port of the admin listener. */
  readonly adminUrl: string;
  readonly metrics: ProxyMetrics;
  readonly log: Logger;
  /** Add admin routes here (e.g. /debug/backends). */
  readonly adminRoutes: AdminRoutes;
  readonly pools: ReadonlyMap<string, BackendPool>;
  /** Re-reads credential (and policy) files now; also runs on file changes. */
  reload(): void;
  /**
   * Graceful stop: readiness false, stop accepting, `Connection: close` on every response,
   * wait for in-flight requests up to `graceMs` (default config), then close everything.
   */
  shutdown(graceMs?: number): Promise<void>;
}

interface ConnState {
  since: number;
  requests: number;
  /** A request of this connection is being handled (its response has not closed). */
  busy: boolean;
  /** Requests pipelined behind it, in order. */
  waiting: (() => void)[];
  /** We stopped reading the socket: too many requests wait (MAX_PIPELINED). */
  readPaused: boolean;
  /**
   * We stopped reading it since the last request's headers came in: a request whose head was
   * cut off by the pause waits for us, not for its client (see the clientError handler).
   */
  stalledByUs: boolean;
  /** Node's header timeout came while we held the socket: ours starts when we resume. */
  headTimeoutOwed: boolean;
  /** Our header deadline for a head cut by the pause, counted from the resume. */
  headTimer: NodeJS.Timeout | undefined;
}

/**
 * Requests a connection may have waiting behind the one being handled before the proxy stops
 * reading it. Node parses every request a client pipelines as soon as it arrives and holds a
 * request and a response object for each; without a bound, a client writing requests without
 * reading answers grew the sidecar's memory for as long as it wrote. Stopped, the client's
 * further requests wait in the kernel's socket buffers (TCP backpressure), and what Node had
 * already read (one socket read at most) is still answered.
 */
export const MAX_PIPELINED = 16;

/** Listens on `host` ('' = every address, both families where there is IPv6) and `port`. */
function listen(server: Server, host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(host === '' ? { port } : { host, port }, () => {
      server.off('error', reject);
      const a = server.address() as AddressInfo;
      // Every address: name the loopback one, which a URL can be used with.
      const h =
        a.address === '::' || a.address === '0.0.0.0'
          ? '127.0.0.1'
          : a.family === 'IPv6'
            ? `[${a.address}]`
            : a.address;
      resolve(`http://${h}:${a.port}`);
    });
  });
}

/** Writes an S3 XML error straight to a socket whose HTTP parsing failed. */
function rejectSocket(socket: Socket, spec: ErrorSpec, detail?: string): void {
  const id = nextRequestId();
  const body = renderS3Error(new ProxyError(spec, detail), id, '/');
  socket.end(
    `HTTP/1.1 ${spec.status} ${http.STATUS_CODES[spec.status] ?? 'Error'}\r\n` +
      `Content-Type: application/xml\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `x-amz-request-id: ${id}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** Sockets whose malformed input is being answered: Node may report each later packet again. */
const rejecting = new WeakSet<Socket>();

/**
 * Answers a socket whose HTTP parsing failed with `spec`, in order. A request pipelined before
 * the malformed one is still answered first: an error written while its response streams would
 * land inside that body, and a client would take the bytes as the object's (Node's own handler
 * closes instead, and loses the earlier answer). But when the request in flight is the one whose
 * bytes were bad (a broken chunk in its body), it will never complete: it is answered now — the
 * error if its response has not started, else the connection closes.
 */
function rejectInOrder(socket: Socket, spec: ErrorSpec, detail?: string): void {
  if (rejecting.has(socket)) return;
  rejecting.add(socket);
  const next = (): void => {
    const current = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (current == null || current.writableFinished) return rejectSocket(socket, spec, detail);
    if (!current.req.complete) {
      if (current.headersSent) socket.destroy();
      else rejectSocket(socket, spec, detail);
      return;
    }
    // Its request is whole; its response still goes out. The next pipelined response, if any,
    // takes the socket as this one finishes: look again then.
    const onClose = (): void => {
      current.off('finish', onFinish);
    };
    const onFinish = (): void => {
      socket.off('close', onClose);
      setImmediate(() => {
        if (!socket.destroyed) next();
      });
    };
    current.once('finish', onFinish);
    socket.once('close', onClose);
  };
  next();
}

/** Starts a proxy; resolves once both listeners accept connections. */
export async function startProxy(config: ProxyConfig, opts: ProxyOptions = {}): Promise<ProxyHandle> {
  const log = createLogger(config.logLevel, opts.logDestination);
  const metrics = new ProxyMetrics();
  const policy: PodPolicyDocument = config.policy;
  const stores = new Map(policy.stores.map((s) => [s.name, s]));
  const signers = new Signers(policy.stores);
  const balancer = new Balancer({
    ...opts.balancer,
    registry: metrics.registry,
    forgetBackend: (backend) => metrics.forgetBackend(backend),
    localZone: policy.zone,
    ...(opts.poolFactory ? { poolFactory: opts.poolFactory } : {}),
  });
  // The live store → pool map; a policy reload edits it (proxy/balancer/store-sync.ts).
  const pools = balancer.start(policy, config.timeouts);
  const policyState = new PolicyState(policy, {
    virtualHostDomains: config.virtualHostDomains,
    metrics: new PolicyMetrics(metrics.registry),
    log,
    stores: createStoreSync({ balancer, signers, stores, timeouts: config.timeouts }),
  });
  let ready = false;
  let draining = false;
  let inFlight = 0;
  const conns = new WeakMap<Socket, ConnState>();
  const { maxAgeMs, maxRequests } = config.keepAlive;

  const reload = (): void => {
    // Policy first: it may add or drop stores (and their credentials files) before those are read.
    // Validates, swaps atomically, or keeps the previous policy (counted and logged): proxy/policy/reload.ts.
    if (config.policyFile) policyState.reloadFile(config.policyFile);
    const { changed, errors } = signers.reload();
    for (const err of errors)
      log.warn({ err: err.message }, 'credentials reload failed; keeping the last good ones');
    if (changed.length > 0)
      log.info({ stores: changed, generation: signers.generation }, 'credentials reloaded');
    metrics.credentialReloads.inc({
      result: errors.length > 0 ? 'error' : changed.length > 0 ? 'changed' : 'unchanged',
    });
  };
  // Asked again after each reload: a store added by the policy brings its credentials file.
  const files = (): string[] => [...signers.files(), ...(config.policyFile ? [config.policyFile] : [])];
  const unwatch = watchFiles(files, reload, 50, opts.credentialPollMs ?? 10_000);

  const handler = createRequestHandler({
    virtualHostDomains: config.virtualHostDomains,
    authorizer: () => policyState.current,
    metrics,
    log,
    pools,
    stores,
    signers,
    timeouts: config.timeouts,
    runner: opts.runner ?? balancer.runner,
    shouldClose(req: IncomingMessage) {
      if (draining) return true;
      const st = conns.get(req.socket);
      if (!st) return false;
      st.requests++;
      return (
        (maxRequests > 0 && st.requests >= maxRequests) || (maxAgeMs > 0 && Date.now() - st.since >= maxAgeMs)
      );
    },
  });
  // Responses in flight, so a drain can still mark those whose head has not gone out.
  const open = new Set<ServerResponse>();
  // Requests pipelined on one connection are handled one after another. Node emits each as soon
  // as it is parsed, and handled at once a DELETE pipelined behind a PUT of the same key could
  // reach the store first (RFC 9112 §9.3.2: only safe methods may be processed in parallel);
  // pipelining is rare enough that safe ones need not be told apart.
  const track = (req: IncomingMessage, res: ServerResponse, expectContinue: boolean): void => {
    inFlight++;
    open.add(res);
    const st = conns.get(req.socket);
    if (st) {
      // A head came in whole: no header deadline of ours is owed any more.
      clearTimeout(st.headTimer);
      st.headTimeoutOwed = false;
      if (!st.readPaused) st.stalledByUs = false;
    }
    res.once('close', () => {
      inFlight--;
      open.delete(res);
      if (st === undefined) return;
      st.busy = false;
      st.waiting.shift()?.();
      if (st.readPaused && st.waiting.length < MAX_PIPELINED) {
        st.readPaused = false;
        req.socket.resume();
        if (st.headTimeoutOwed) armHeadDeadline(req.socket, st);
      }
    });
    const run = (): void => {
      if (st) st.busy = true;
      // The client left, or the response before closed the connection (Connection: close at a
      // keep-alive bound or while draining), while this request waited: its answer could never
      // be delivered, so it must not run (a client resends what got no answer).
      if (req.socket.destroyed || req.socket.writableEnded) res.destroy();
      else handler(req, res, expectContinue);
    };
    if (st?.busy) {
      st.waiting.push(run);
      if (st.waiting.length >= MAX_PIPELINED) {
        st.readPaused = true;
        st.stalledByUs = true;
        req.socket.pause();
      }
    } else run();
  };

  /** Answers a request Node could not parse (or whose head timed out) with its S3 error. */
  const rejectClient = (socket: Socket, code: string | undefined): void => {
    const spec =
      code === 'HPE_HEADER_OVERFLOW'
        ? Errors.RequestHeaderSectionTooLarge
        : code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? Errors.RequestTimeout
          : Errors.BadRequest;
    metrics.errors.inc({ code: spec.code, source: spec.source });
    log.warn({ code, s3Code: spec.code }, 'rejected a malformed request');
    rejectInOrder(socket, spec);
  };
  const armHeadDeadline = (socket: Socket, st: ConnState): void => {
    st.headTimeoutOwed = false;
    clearTimeout(st.headTimer);
    st.headTimer = setTimeout(() => {
      if (!socket.destroyed) rejectClient(socket, 'ERR_HTTP_REQUEST_TIMEOUT');
    }, server.headersTimeout); // what Node's own deadline would be (config, or its default)
  };

  const server = http.createServer({
    maxHeaderSize: config.limits.maxHeaderBytes,
    headersTimeout: config.timeouts.requestHeaderTimeoutMs || undefined,
    requestTimeout: 0,
    keepAliveTimeout: config.timeouts.keepAliveIdleMs,
    connectionsCheckingInterval: Math.min(1000, config.timeouts.requestHeaderTimeoutMs || 1000),
    // Node answers a missing Host with a bare 400 of its own: the parse phase refuses it with
    // an S3 error instead (proxy/pipeline/parse.ts).
    requireHostHeader: false,
  });
  server.on('connection', (socket: Socket) => {
    const st: ConnState = {
      since: Date.now(),
      requests: 0,
      busy: false,
      waiting: [],
      readPaused: false,
      stalledByUs: false,
      headTimeoutOwed: false,
      headTimer: undefined,
    };
    conns.set(socket, st);
    socket.once('close', () => clearTimeout(st.headTimer));
    // Node's http resumes the socket itself (a finished request is dumped, a body is read): kept
    // stopped while too many requests wait, as Node's own onSocketResume does for its pause.
    // No body is cut off: every waiting request but the last was parsed whole, and the last one
    // runs only after the queue is short again.
    socket.on('resume', () => {
      if (st.readPaused) socket.pause();
    });
  });
  server.on('request', (req, res) => track(req, res, false));
  server.on('checkContinue', (req, res) => track(req, res, true));
  // An Expect other than 100-continue: Node would answer a bare 417; the parse phase refuses it.
  server.on('checkExpectation', (req, res) => track(req, res, false));
  // CONNECT: with no listener Node drops the connection without a word.
  server.on('connect', (req: IncomingMessage, socket: Socket) => {
    // Node handed the socket over without its listeners: an error on it would be uncaught (and
    // end the process), and a client that never closes its side would keep it open for good.
    socket.on('error', () => socket.destroy());
    socket.once('finish', () => socket.destroy());
    // Idle, not total: a response pipelined before the CONNECT may stream for long.
    socket.setTimeout(10_000, () => socket.destroy());
    metrics.errors.inc({ code: Errors.NotImplemented.code, source: Errors.NotImplemented.source });
    log.warn({ method: req.method, s3Code: Errors.NotImplemented.code }, 'rejected a CONNECT request');
    rejectInOrder(socket, Errors.NotImplemented, 'Method CONNECT is not supported.');
  });
  server.on('clientError', (err: Error & { code?: string }, socket: Socket) => {
    if (!socket.writable || err.code === 'ECONNRESET' || err.code === 'EPIPE') {
      socket.destroy();
      return;
    }
    // Node's header timeout counts from a request's first byte. Stopping the read (MAX_PIPELINED)
    // can cut a pipelined request's head in two; its rest is in the kernel, read as soon as we
    // resume. Node reports each request once, so the header deadline becomes ours, counted from
    // the resume: a head that still does not complete then is the client's.
    const st = conns.get(socket);
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' && st?.stalledByUs) {
      if (st.readPaused) st.headTimeoutOwed = true;
      else armHeadDeadline(socket, st);
      return;
    }
    rejectClient(socket, err.code);
  });

  const routes = defaultAdminRoutes(metrics.registry, () => ready);
  routes.set('/debug/backends', balancer.debugHandler);
  const admin = createAdminServer(routes);
  const listening = await Promise.allSettled([
    listen(server, config.listen.host, config.listen.port),
    listen(admin, config.admin.host, config.admin.port),
  ]);
  const failed = listening.find((r) => r.status === 'rejected');
  if (failed) {
    // One port in use: the listener that did bind must not stay open, serving S3 requests from a
    // proxy that never became ready and keeping the process alive (no exit, no restart).
    server.close();
    admin.close();
    unwatch();
    await balancer.close();
    await flushLog(log);
    throw failed.reason;
  }
  const [url, adminUrl] = listening.map((r) => (r as PromiseFulfilledResult<string>).value) as [
    string,
    string,
  ];
  ready = true;
  metrics.ready.set(1);
  log.info({ url, adminUrl, stores: [...stores.keys()] }, 'proxy ready');

  let stopping: Promise<void> | undefined;
  const shutdown = (graceMs = config.shutdown.graceMs): Promise<void> => {
    stopping ??= (async () => {
      ready = false;
      draining = true;
      metrics.ready.set(0);
      // writeHead merges these with the backend's headers (from which hop-by-hop ones are dropped).
      for (const res of open) if (!res.headersSent) res.setHeader('connection', 'close');
      log.info({ inFlight, graceMs }, 'draining');
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      const deadline = Date.now() + graceMs;
      while (inFlight > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 25));
        server.closeIdleConnections();
      }
      if (inFlight > 0) log.warn({ inFlight }, 'grace period over; closing remaining connections');
      server.closeAllConnections();
      await closed;
      unwatch();
      await balancer.close();
      await new Promise<void>((r) => {
        admin.close(() => r());
        admin.closeAllConnections();
      });
      log.info('stopped');
      await flushLog(log); // stdout is batched (proxy/log.ts)
    })();
    return stopping;
  };

  return { url, adminUrl, metrics, log, adminRoutes: routes, pools, reload, shutdown };
}
