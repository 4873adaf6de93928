/**
 * The admin listener (:7481): /metrics, /healthz (the process is alive), /readyz (it takes
 * traffic: false while starting and draining) and a route table other parts extend, e.g. the
 * balancer's `/debug/backends`. Never on the S3 port, so no S3 path can shadow these.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { http } from './node-builtins.ts';
import type { Registry } from 'prom-client';

/** One admin route handler (GET/HEAD only). */
export type AdminHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** Path → handler. Add routes before or after start; lookups are live. */
export type AdminRoutes = Map<string, AdminHandler>;

/** Writes a JSON body. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendText(res: ServerResponse, status: number, text: string, type = 'text/plain'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The built-in routes over a metrics registry and a readiness probe. */
export function defaultAdminRoutes(registry: Registry, ready: () => boolean): AdminRoutes {
  const routes: AdminRoutes = new Map();
  routes.set('/healthz', (_req, res) => sendText(res, 200, 'ok\n'));
  routes.set('/readyz', (_req, res) =>
    ready() ? sendText(res, 200, 'ready\n') : sendText(res, 503, 'not ready\n'),
  );
  routes.set('/metrics', async (_req, res) =>
    sendText(res, 200, await registry.metrics(), registry.contentType),
  );
  return routes;
}

/** A peer in this network namespace: the pod's own containers, or `kubectl port-forward`. */
function isLoopback(address: string | undefined): boolean {
  return address !== undefined && /^(127\.|::1$|::ffff:127\.)/.test(address);
}

/** An admin server over `routes` (not yet listening). */
export function createAdminServer(routes: AdminRoutes): Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const h = routes.get(path);
    if (!h) return sendText(res, 404, 'not found\n');
    // The port is open to the pod network for probes and Prometheus; the debug routes (the
    // store's nodes, zones, health, ejections) are nobody else's business there.
    if (path.startsWith('/debug/') && !isLoopback(req.socket.remoteAddress))
      return sendText(res, 403, 'debug routes answer on loopback only (kubectl port-forward)\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'method not allowed\n');
    Promise.resolve(h(req, res)).catch((err: unknown) => {
      if (!res.headersSent) sendText(res, 500, `${(err as Error).message}\n`);
      else res.destroy();
    });
  });
}
