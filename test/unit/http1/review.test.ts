/**
 * Regression tests from a review of the backend HTTP/1.1 client (proxy/http1/) and its use by the
 * forward phase. Every test here failed on the code as reviewed (commit 8798ecc) and passes since
 * the fixes; none asserts on timing.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import * as tls from 'node:tls';
import { createServer as createHttpsServer } from 'node:https';
import { largeReadBuffers, readBufferBytes } from '../../../proxy/http1/connection.ts';
import { UpstreamError } from '../../../proxy/http1/errors.ts';
import { parseResponseHead } from '../../../proxy/http1/response-head.ts';
import type { UpstreamController } from '../../../proxy/http1/types.ts';
import { createCA, issueCert, type CertFiles } from '../../testbed/pki.ts';
import { until } from '../../testbed/until.ts';
import { startFake } from '../proxy/fake-backend.ts';
import { makePool, record, request, response, sleep, startRawServer } from './raw-server.ts';

const POLL = { everyMs: 10 };

// --- TLS test bed: a CA the process trusts and a serving certificate for 127.0.0.1 ---

let pkiDir = '';
let serving: CertFiles;
const defaultCAs = tls.getCACertificates('default');

before(() => {
  pkiDir = mkdtempSync(join(tmpdir(), 'sluice-http1-review-'));
  const ca = createCA(pkiDir, 'http1-review');
  serving = issueCert(pkiDir, ca, { commonName: 'backend', ips: ['127.0.0.1'], usage: 'server' });
  // The pool connects with Node's default trust store (no per-pool CA option).
  tls.setDefaultCACertificates([...defaultCAs, ca.cert]);
});

after(() => {
  tls.setDefaultCACertificates(defaultCAs);
  if (pkiDir) rmSync(pkiDir, { recursive: true, force: true });
});

/**
 * A TLS backend that answers the first request bytes of each connection with `wire`, in records
 * of at most 1 KiB (what Go's crypto/tls — MinIO — sends for the first 128 KiB of a connection:
 * dynamic record sizing), so one socket read holds many records.
 */
async function startTlsBackend(t: TestContext, wire: Buffer): Promise<string> {
  const sockets = new Set<tls.TLSSocket>();
  const server = tls.createServer({ key: serving.key, cert: serving.cert }, (s) => {
    sockets.add(s);
    s.setMaxSendFragment(1024);
    s.on('error', () => {});
    s.once('data', () => s.write(wire));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

void describe('review: borrowed data over TLS', () => {
  void test('a TLS backend delivers nothing after pause() and never overwrites a delivered chunk', async (t) => {
    const body = randomBytes(512 * 1024);
    const origin = await startTlsBackend(t, response(body));
    const pool = makePool(t, origin);
    const [buffersBefore, largeBefore] = [readBufferBytes(), largeReadBuffers()];
    const hash = createHash('sha256');
    let bytes = 0;
    let held = 0;
    let deliveredWhilePaused = 0;
    let changedWhileHeld = 0;
    await new Promise<void>((resolve, reject) => {
      let ended = false;
      pool.dispatch(request(), {
        onResponseStart() {},
        onResponseData(c: UpstreamController, chunk: Buffer) {
          // types.ts: after pause() "the next read waits for resume()", and the chunk stays valid.
          if (held > 0) deliveredWhilePaused++;
          held++;
          c.pause();
          const copy = Buffer.from(chunk);
          setImmediate(() => {
            if (!chunk.equals(copy)) changedWhileHeld++;
            hash.update(copy);
            bytes += copy.length;
            if (--held > 0) return;
            c.resume(); // may deliver more (and end) before it returns
            if (ended && held === 0) resolve();
          });
        },
        onResponseEnd() {
          ended = true;
          if (held === 0) resolve();
        },
        onResponseError: (_c, err) => reject(err),
      });
    });
    assert.equal(deliveredWhilePaused, 0, 'onResponseData was called while the handler was paused');
    assert.equal(changedWhileHeld, 0, 'held (borrowed) chunks were overwritten while paused');
    assert.equal(bytes, body.length);
    assert.equal(hash.digest('hex'), createHash('sha256').update(body).digest('hex'));
    // TLS reads come in buffers of their own: the connection holds no read buffer, and no place
    // among the large ones.
    assert.equal(readBufferBytes(), buffersBefore);
    assert.equal(largeReadBuffers(), largeBefore);
  });

  void test('GET through the proxy from an https backend reaches a slow-reading client intact', async (t) => {
    const body = randomBytes(32 * 1024 * 1024);
    const want = createHash('sha256').update(body).digest('hex');
    // Bytes the backend handed to its socket so far (it writes with backpressure).
    let sent = 0;
    const backend = createHttpsServer({ key: serving.key, cert: serving.cert }, (req, res) => {
      req.resume();
      // The proxy's health checks come here too: only the object's GET counts.
      if (req.url !== '/fake-bucket/object') return void res.end('ok');
      sent = 0;
      res.writeHead(200, { 'content-length': String(body.length) });
      const pump = (): void => {
        while (sent < body.length) {
          const piece = body.subarray(sent, sent + 64 * 1024);
          sent += piece.length;
          if (!res.write(piece)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    });
    backend.on('secureConnection', (s) => s.setMaxSendFragment(1024));
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    const f = await startFake({}, `https://127.0.0.1:${(backend.address() as AddressInfo).port}`);
    t.after(async () => {
      await f.stop();
      backend.closeAllConnections();
      await new Promise((r) => backend.close(r));
    });
    const u = new URL(f.proxy.url);
    const results: boolean[] = [];
    for (let round = 0; round < 3; round++) {
      const sock = netConnect(Number(u.port), u.hostname);
      sock.on('error', () => {});
      sock.write('GET /fake-bucket/object HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n');
      sock.pause(); // a client that does not read for a while
      // Wait until the backend is blocked (no progress over several polls, body not all sent):
      // the proxy has filled the client's socket and paused the backend connection.
      let last = -1;
      let same = 0;
      await until(
        () => {
          same = sent > 0 && sent < body.length && sent === last ? same + 1 : 0;
          last = sent;
          return same >= 5;
        },
        'the backend is blocked by the paused client',
        { polls: 1000, everyMs: 20 },
      );
      const parts: Buffer[] = [];
      sock.on('data', (d: Buffer) => parts.push(d));
      sock.resume();
      await new Promise((r) => sock.once('close', r));
      const all = Buffer.concat(parts);
      const headEnd = all.indexOf('\r\n\r\n');
      assert.match(all.toString('latin1', 0, 12), /^HTTP\/1\.1 200/);
      const got = all.subarray(headEnd + 4);
      assert.equal(got.length, body.length, 'the whole body arrived');
      results.push(createHash('sha256').update(got).digest('hex') === want);
    }
    assert.deepEqual(results, [true, true, true], 'the object bytes the client received are the backend’s');
  });
});

void describe('review: a handler failure at the end of an exchange', () => {
  void test('an exception thrown in onResponseEnd still frees the connection', async (t) => {
    // forward.ts throws from onResponseEnd when Node refuses a held response's head (see the
    // status-line test below): the exception is swallowed by Exchange.onBytes (fail() is a no-op
    // once done) and conn.exchangeEnded() is never reached.
    const srv = await startRawServer(t, (c) => c.socket.write(response('ok')));
    const pool = makePool(t, srv.origin, { connections: 1 });
    pool.dispatch(request({ path: '/throws' }), {
      onResponseStart() {},
      onResponseData() {},
      onResponseEnd() {
        throw new Error('handler failed at the end');
      },
      onResponseError() {},
    });
    await until(() => srv.conns[0]?.requests.length === 1, 'the first request reached the backend', POLL);
    const next = record(pool, request({ path: '/next' }));
    await until(
      () => next.events.includes('responseEnd') || next.events.includes('responseError'),
      'the next request (connections: 1) ran',
      { polls: 300, everyMs: 20 },
    );
  });

  void test('a status line whose reason has a control byte is refused (Node could not forward it)', () => {
    // RFC 9112 §4: reason-phrase = *( HTAB / SP / VCHAR / obs-text ). Node's writeHead throws
    // ERR_INVALID_CHAR for such a reason: through the proxy a held (small GET) response then hangs
    // the client forever, and an unheld one crashes the process (respondError's writeHead throws
    // again on the stale statusMessage).
    for (const reason of ['O\x01K', 'OK\x7f', 'O\0K']) {
      assert.throws(
        () => parseResponseHead(`HTTP/1.1 200 ${reason}\r\nContent-Length: 2`, 'GET'),
        (err: unknown) => err instanceof UpstreamError && err.code === 'PROTOCOL',
        JSON.stringify(reason),
      );
    }
  });
});

void describe('review: pause() outside a data callback', () => {
  void test('pause() called after onResponseData returned holds back the next read', async (t) => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const srv = await startRawServer(t, (c) => {
      c.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345');
      void gate.then(() => c.socket.write('67890'));
    });
    const pool = makePool(t, srv.origin);
    let paused = false;
    let deliveredWhilePaused = 0;
    let ended = false;
    let controller: UpstreamController | undefined;
    pool.dispatch(request(), {
      onResponseStart() {},
      onResponseData(c) {
        controller = c;
        if (paused) deliveredWhilePaused++;
      },
      onResponseEnd() {
        ended = true;
      },
      onResponseError() {},
    });
    await until(() => controller !== undefined, 'the first half arrived', POLL);
    // types.ts: pause() "Stops reading the backend socket … the next read waits for resume()".
    paused = true;
    controller!.pause();
    release();
    // The backend wrote the rest; give a reading socket ample chance to take it.
    for (let i = 0; i < 20 && deliveredWhilePaused === 0; i++) await sleep(10);
    assert.equal(deliveredWhilePaused, 0, 'data was delivered while paused');
    paused = false;
    controller!.resume();
    await until(() => ended, 'the response ended after resume()', POLL);
  });
});
