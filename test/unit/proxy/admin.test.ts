/**
 * The admin port is open to the pod network (probes, Prometheus); its debug routes answer only
 * to peers in the pod's own network namespace.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { createAdminServer, sendJson, type AdminRoutes } from '../../../proxy/admin.ts';

/** Runs one GET through the server's request listener as if `remoteAddress` had sent it. */
function get(routes: AdminRoutes, path: string, remoteAddress: string): Promise<number> {
  const server = createAdminServer(routes);
  const socket = new Socket();
  Object.defineProperty(socket, 'remoteAddress', { value: remoteAddress });
  const req = new IncomingMessage(socket);
  req.method = 'GET';
  req.url = path;
  const res = new ServerResponse(req);
  return new Promise((resolve) => {
    res.end = ((): ServerResponse => {
      resolve(res.statusCode);
      return res;
    }) as typeof res.end;
    server.emit('request', req, res);
  });
}

void test('debug routes answer loopback peers only; the probes and metrics answer anyone', async () => {
  const routes: AdminRoutes = new Map();
  routes.set('/debug/backends', (_req, res) => sendJson(res, 200, { stores: [] }));
  routes.set('/healthz', (_req, res) => sendJson(res, 200, 'ok'));
  for (const peer of ['127.0.0.1', '127.3.4.5', '::1', '::ffff:127.0.0.1'])
    assert.equal(await get(routes, '/debug/backends', peer), 200, peer);
  for (const peer of ['10.244.1.7', '::ffff:10.0.0.1', 'fd00::1', '1.127.0.0'])
    assert.equal(await get(routes, '/debug/backends', peer), 403, peer);
  assert.equal(await get(routes, '/healthz', '10.244.1.7'), 200);
});
