import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { upstreamRequest } from '../../testbed/upstream.ts';
import { until } from '../../testbed/until.ts';
import {
  chunkedBody,
  makePool,
  record,
  request,
  response,
  sleep,
  startRawServer,
  writeSlowly,
} from './raw-server.ts';

// UpstreamPool against raw TCP backends: reading responses by their framing, and when a
// connection is (not) reused. Errors, timeouts and lifecycle: pool-errors/pool-lifecycle;
// request bodies: pool-body; borrowed data and pause: pool-borrowed.

void describe('UpstreamPool: responses', () => {
  void test('a Content-Length GET: request on the wire, status, headers and body', async (t) => {
    const srv = await startRawServer(t, (c) =>
      c.socket.write(response('hello world', ['X-Amz-Request-Id: r1', 'ETag: "abc"'], '200 Fine')),
    );
    const pool = makePool(t, srv.origin);
    const rec = record(pool, request({ path: '/b/k?x=1', headers: ['Host', 'backend:9000', 'X-A', 'v'] }));
    await rec.done;
    assert.deepEqual(rec.events, ['requestStart', 'requestSent', 'responseStart', 'data', 'responseEnd']);
    assert.equal(rec.status, 200);
    assert.equal(rec.statusMessage, 'Fine');
    assert.deepEqual(rec.headers, { 'x-amz-request-id': 'r1', etag: '"abc"', 'content-length': '11' });
    assert.deepEqual(rec.rawHeaders, ['X-Amz-Request-Id', 'r1', 'ETag', '"abc"', 'Content-Length', '11']);
    assert.equal(rec.body.toString(), 'hello world');
    assert.equal(
      srv.conns[0]!.received.toString('latin1'),
      'GET /b/k?x=1 HTTP/1.1\r\nHost: backend:9000\r\nX-A: v\r\n\r\n',
    );
  });

  void test('two sequential requests reuse one TCP connection', async (t) => {
    let n = 0;
    const srv = await startRawServer(t, (c) => c.socket.write(response(`answer ${n++}`)));
    const pool = makePool(t, srv.origin);
    const a = await upstreamRequest(pool, { path: '/a' });
    const b = await upstreamRequest(pool, { path: '/b' });
    assert.equal(a.body.toString(), 'answer 0');
    assert.equal(b.body.toString(), 'answer 1');
    assert.equal(srv.conns.length, 1);
    assert.deepEqual(
      srv.conns[0]!.requests.map((r) => r.path),
      ['/a', '/b'],
    );
    assert.equal(pool.size, 1);
  });

  void test('a response head (and body) written one byte at a time', async (t) => {
    const bytes = response('byte by byte', ['X-Long-Header: ' + 'v'.repeat(50), 'X-B: 2']);
    const srv = await startRawServer(t, (c) => void writeSlowly(c.socket, bytes));
    const pool = makePool(t, srv.origin);
    const r = await upstreamRequest(pool, { path: '/slow' });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['x-long-header'], 'v'.repeat(50));
    assert.equal(r.headers['x-b'], '2');
    assert.equal(r.body.toString(), 'byte by byte');
    // Still in step: the connection carries the next request.
    srv.respond = (c) => c.socket.write(response('second'));
    assert.equal((await upstreamRequest(pool, { path: '/next' })).body.toString(), 'second');
    assert.equal(srv.conns.length, 1);
  });

  void test('an interim 100 Continue, then a 3 KB head, in 97-byte pieces (the head buffer grows)', async (t) => {
    const bytes = Buffer.concat([
      Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'),
      response('hello', ['x-amz-request-id: R1', 'x-amz-meta-long: ' + 'v'.repeat(3000)]),
    ]);
    const srv = await startRawServer(t, (c) => void writeSlowly(c.socket, bytes, 97));
    const pool = makePool(t, srv.origin);
    const r = await upstreamRequest(pool, { path: '/pieces' });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['x-amz-meta-long'], 'v'.repeat(3000));
    assert.equal(r.body.toString(), 'hello');
  });

  void test('a response head split right inside its final CRLFCRLF', async (t) => {
    const bytes = response('split');
    const headEnd = bytes.indexOf('\r\n\r\n');
    for (const cut of [headEnd + 1, headEnd + 2, headEnd + 3, headEnd + 4]) {
      const srv = await startRawServer(t, (c) => {
        c.socket.write(bytes.subarray(0, cut));
        setTimeout(() => c.socket.write(bytes.subarray(cut)), 20);
      });
      const pool = makePool(t, srv.origin);
      const r = await upstreamRequest(pool, { path: '/' });
      assert.equal(r.body.toString(), 'split', `cut at ${cut}`);
    }
  });

  void test('a chunked response, its framing split across writes; the connection is reused', async (t) => {
    const body = chunkedBody(['first ', 'second ', Buffer.alloc(300, 'z'), 'last']);
    const head = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
    const srv = await startRawServer(t, (c) => {
      void (async () => {
        c.socket.write(head);
        await writeSlowly(c.socket, body, 7);
      })();
    });
    const pool = makePool(t, srv.origin);
    const r = await upstreamRequest(pool, { path: '/chunked' });
    assert.equal(r.body.toString(), `first second ${'z'.repeat(300)}last`);
    srv.respond = (c) => c.socket.write(response('again'));
    assert.equal((await upstreamRequest(pool, { path: '/again' })).body.toString(), 'again');
    assert.equal(srv.conns.length, 1);
  });

  void test('a close-delimited response is read to the end; the connection is not reused', async (t) => {
    const srv = await startRawServer(t, (c) => {
      void (async () => {
        c.socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npart one, ');
        await sleep(10);
        c.socket.end('part two');
      })();
    });
    const pool = makePool(t, srv.origin);
    const rec = record(pool, request({ path: '/close' }));
    await rec.done;
    assert.deepEqual(rec.events.slice(-2), ['data', 'responseEnd']);
    assert.equal(rec.body.toString(), 'part one, part two');
    await until(() => pool.size === 0, 'the close-delimited connection is gone', { everyMs: 10 });
    srv.respond = (c) => c.socket.write(response('fresh'));
    assert.equal((await upstreamRequest(pool, { path: '/next' })).body.toString(), 'fresh');
    assert.equal(srv.conns.length, 2);
  });

  void test('Connection: close → the next request opens a new connection', async (t) => {
    const srv = await startRawServer(t, (c) => c.socket.write(response('bye', ['Connection: close'])));
    const pool = makePool(t, srv.origin);
    assert.equal((await upstreamRequest(pool, { path: '/1' })).body.toString(), 'bye');
    assert.equal((await upstreamRequest(pool, { path: '/2' })).body.toString(), 'bye');
    assert.equal(srv.conns.length, 2);
    assert.deepEqual(
      srv.conns.map((c) => c.requests.length),
      [1, 1],
    );
    // The client, not only the server, dropped the first connection.
    await until(() => srv.conns[0]!.ended, 'the client closed the first connection', { everyMs: 10 });
  });

  void test('HTTP/1.0 keep-alive responses reuse the connection', async (t) => {
    const srv = await startRawServer(t, (c) =>
      c.socket.write('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok'),
    );
    const pool = makePool(t, srv.origin);
    await upstreamRequest(pool, { path: '/1' });
    await upstreamRequest(pool, { path: '/2' });
    assert.equal(srv.conns.length, 1);
  });

  void test('100 Continue interim heads are skipped, in the same write or their own', async (t) => {
    for (const split of [false, true]) {
      const interim = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n';
      const srv = await startRawServer(t, (c) => {
        if (!split) {
          c.socket.write(Buffer.concat([Buffer.from(interim), response('final', ['X-Final: 1'])]));
          return;
        }
        void (async () => {
          c.socket.write(interim);
          await sleep(10);
          c.socket.write(response('final', ['X-Final: 1']));
        })();
      });
      const pool = makePool(t, srv.origin);
      const rec = record(pool, request());
      await rec.done;
      assert.deepEqual(rec.events, ['requestStart', 'requestSent', 'responseStart', 'data', 'responseEnd']);
      assert.equal(rec.status, 200, `split ${split}`);
      assert.deepEqual(rec.rawHeaders, ['X-Final', '1', 'Content-Length', '5']);
      assert.equal(rec.body.toString(), 'final');
      // In step afterwards: the connection is reused.
      srv.respond = (c) => c.socket.write(response('next'));
      assert.equal((await upstreamRequest(pool, { path: '/next' })).body.toString(), 'next');
      assert.equal(srv.conns.length, 1);
    }
  });

  void test('a HEAD response with Content-Length has no body and the connection is reused', async (t) => {
    const srv = await startRawServer(t, (c, req) =>
      c.socket.write(
        req.method === 'HEAD'
          ? 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n'
          : response('after head').toString('latin1'),
      ),
    );
    const pool = makePool(t, srv.origin);
    const head = await upstreamRequest(pool, { method: 'HEAD', path: '/h' });
    assert.equal(head.headers['content-length'], '1000');
    assert.equal(head.body.length, 0);
    assert.equal((await upstreamRequest(pool, { path: '/g' })).body.toString(), 'after head');
    assert.equal(srv.conns.length, 1);
  });
});

void describe('UpstreamPool: bytes after a complete response', () => {
  // [case, request method, response, its body]: each followed by a stray response in one write.
  const cases: [string, string, Buffer, string][] = [
    ['Content-Length body', 'GET', response('abc'), 'abc'],
    ['Content-Length: 0', 'GET', response(''), ''],
    ['204 No Content', 'GET', Buffer.from('HTTP/1.1 204 No Content\r\n\r\n'), ''],
    ['HEAD response', 'HEAD', Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n'), ''],
    [
      'chunked body',
      'GET',
      Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'),
      'abc',
    ],
  ];
  for (const [name, method, answer, body] of cases) {
    void test(`${name} followed by extra bytes in the same write: that connection is not reused`, async (t) => {
      const stray = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEXTRA');
      const srv = await startRawServer(t, (c) => c.socket.write(Buffer.concat([answer, stray])));
      const pool = makePool(t, srv.origin);
      const first = await upstreamRequest(pool, { method, path: '/1' });
      assert.equal(first.body.toString(), body);
      srv.respond = (c) => c.socket.write(response('clean'));
      const second = await upstreamRequest(pool, { path: '/2' });
      assert.equal(second.body.toString(), 'clean');
      assert.equal(srv.conns.length, 2, 'the second request went on a new connection');
      assert.equal(srv.conns[0]!.requests.length, 1);
      await until(() => srv.conns[0]!.closed, 'the out-of-step connection is closed', { everyMs: 10 });
    });
  }
});

void describe('UpstreamPool: connection limit', () => {
  void test('connections: 1 with two concurrent requests: both succeed on one connection, in order', async (t) => {
    const srv = await startRawServer(t, (c, req) => {
      // Answer slowly so the second request has to wait for the first.
      setTimeout(() => c.socket.write(response(`for ${req.path}`)), 20);
    });
    const pool = makePool(t, srv.origin, { connections: 1 });
    const order: string[] = [];
    const a = upstreamRequest(pool, { path: '/a' }).then((r) => {
      order.push('a');
      return r;
    });
    const b = upstreamRequest(pool, { path: '/b' }).then((r) => {
      order.push('b');
      return r;
    });
    assert.equal(pool.size, 1);
    const [ra, rb] = await Promise.all([a, b]);
    assert.equal(ra.body.toString(), 'for /a');
    assert.equal(rb.body.toString(), 'for /b');
    assert.deepEqual(order, ['a', 'b']);
    assert.equal(srv.conns.length, 1);
    assert.deepEqual(
      srv.conns[0]!.requests.map((r) => r.path),
      ['/a', '/b'],
    );
  });

  void test('connections: 2 with five concurrent requests: at most two connections, FIFO', async (t) => {
    let open = 0;
    let most = 0;
    const srv = await startRawServer(t, (c, req) => {
      open++;
      most = Math.max(most, open);
      setTimeout(() => {
        open--;
        c.socket.write(response(`for ${req.path}`));
      }, 10);
    });
    const pool = makePool(t, srv.origin, { connections: 2 });
    const paths = ['/1', '/2', '/3', '/4', '/5'];
    const log: string[] = [];
    const recs = paths.map((path) => record(pool, request({ path }), log));
    assert.equal(pool.size, 2);
    await Promise.all(recs.map((r) => r.done));
    // Queued exchanges start in dispatch order (FIFO).
    assert.deepEqual(
      log.filter((e) => e.endsWith(' requestStart')),
      paths.map((p) => `${p} requestStart`),
    );
    assert.deepEqual(
      recs.map((r) => r.body.toString()),
      paths.map((p) => `for ${p}`),
    );
    assert.equal(srv.conns.length, 2);
    assert.equal(most, 2);
    const served = srv.conns.flatMap((c) => c.requests.map((r) => r.path)).sort();
    assert.deepEqual(served, paths);
  });
});
