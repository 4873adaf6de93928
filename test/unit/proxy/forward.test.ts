/**
 * Failure paths of forward/respond against a scripted node:http backend: mid-response failure
 * aborts the client, timeouts (backend first byte, client not reading), connect refused, and
 * what reaches the backend (re-signed, client auth gone, path re-encoded).
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { request } from 'undici';
import { open, parseResponse, rawRequest, readAll } from '../../integration/proxy/raw.ts';
import { classify } from '../../../proxy/pipeline/forward.ts';
import { UpstreamError } from '../../../proxy/http1/errors.ts';
import { SECRET, startFake } from './fake-backend.ts';
import { until } from '../../testbed/until.ts';
import type { FakeStack } from './fake-backend.ts';

let f: FakeStack;
before(async () => {
  f = await startFake({ timeouts: { backendFirstByteMs: 300, clientIdleMs: 300, backendIdleMs: 2000 } });
});
after(async () => {
  await f?.stop();
});

void test('the backend sees a re-signed request: client auth gone, path re-encoded, x-amz headers signed', async () => {
  f.handle((_req, res) => res.end('ok'));
  const r = await request(
    `${f.proxy.url}/fake-bucket/a%20b/c~d(1)?X-Amz-Signature=abc&X-Amz-Credential=zzz&versionId=v%2B1`,
    {
      headers: {
        authorization:
          'AWS4-HMAC-SHA256 Credential=CLIENT/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00',
        'x-amz-security-token': 'client-token',
        'x-amz-meta-color': 'blue',
      },
    },
  );
  assert.equal(r.statusCode, 200);
  await r.body.text();
  const seen = f.seen.at(-1)!;
  assert.equal(seen.url, '/fake-bucket/a%20b/c~d%281%29?versionId=v%2B1');
  assert.match(
    String(seen.headers.authorization),
    /^AWS4-HMAC-SHA256 Credential=AKIDBACKEND\/\d{8}\/us-east-1\/s3\/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-meta-color, Signature=[0-9a-f]{64}$/,
  );
  assert.equal(seen.headers['x-amz-security-token'], undefined);
  assert.equal(seen.headers['x-amz-content-sha256'], 'UNSIGNED-PAYLOAD');
  assert.equal(seen.headers['x-amz-meta-color'], 'blue');
});

void test('backend failure mid-response aborts the client connection (never a truncated 200)', async () => {
  f.handle((_req, res) => {
    res.writeHead(200, { 'content-length': String(1024 * 1024) });
    res.write(Buffer.alloc(64 * 1024, 1));
    setTimeout(() => res.destroy(), 20);
  });
  const r = await request(`${f.proxy.url}/fake-bucket/big`);
  assert.equal(r.statusCode, 200);
  await assert.rejects(r.body.arrayBuffer());
});

void test('mid-body: a node that breaks off counts against it, a client that hangs up does not', async () => {
  const node = (): { failures: number } =>
    (f.proxy.pools.get('fake') as unknown as { backends(): { failures: number }[] }).backends()[0]!;
  let abandoned = 0; // backend responses the proxy gave up when their client left
  f.handle((_req, res) => {
    res.on('close', () => abandoned++);
    res.writeHead(200, { 'content-length': String(1024 * 1024) });
    res.write(Buffer.alloc(64 * 1024, 1)); // and no more: the client hangs up
  });
  const before = node().failures;
  for (let i = 0; i < 3; i++) {
    const sock = await open(f.proxy.url);
    sock.write('GET /fake-bucket/big HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise<void>((r) => sock.once('data', () => r()));
    sock.destroy();
  }
  // The proxy judged each attempt when it aborted it, before the backend saw its connection go.
  await until(() => abandoned === 3, 'the proxy aborted the three backend requests', { everyMs: 10 });
  assert.equal(node().failures, before, "client hang-ups are not the node's failures");
  f.handle((_req, res) => {
    res.writeHead(200, { 'content-length': String(1024 * 1024) });
    res.write(Buffer.alloc(64 * 1024, 1));
    setTimeout(() => res.destroy(), 20);
  });
  const r = await request(`${f.proxy.url}/fake-bucket/big`);
  await assert.rejects(r.body.arrayBuffer());
  await until(() => node().failures !== before, 'the broken-off body counted', { everyMs: 10 });
  assert.equal(node().failures, before + 1, 'the node broke off the body');
});

void test('backend failure mid-response without Content-Length (chunked) also aborts the client', async () => {
  f.handle((_req, res) => {
    res.writeHead(200);
    res.write(Buffer.alloc(64 * 1024, 1));
    setTimeout(() => res.destroy(), 20);
  });
  const sock = await open(f.proxy.url);
  sock.write('GET /fake-bucket/big HTTP/1.1\r\nHost: x\r\n\r\n');
  const text = await readAll(sock, 10_000);
  sock.destroy();
  assert.match(text, /^HTTP\/1\.1 200/);
  assert.ok(!text.endsWith('0\r\n\r\n'), 'the chunked body must not be terminated');
});

void test('backend errors (status + body) pass through untouched', async () => {
  f.handle((_req, res) => {
    res.writeHead(409, { 'content-type': 'application/xml', 'x-amz-request-id': 'BACKEND1' });
    res.end('<Error><Code>BucketNotEmpty</Code></Error>');
  });
  const r = await request(`${f.proxy.url}/fake-bucket`, { method: 'DELETE' });
  assert.equal(r.statusCode, 409);
  assert.equal(r.headers['x-amz-request-id'], 'BACKEND1');
  assert.equal(await r.body.text(), '<Error><Code>BucketNotEmpty</Code></Error>');
});

void test('backend first-byte timeout → 503 ServiceUnavailable XML with a request id', async () => {
  f.handle(() => undefined); // never answers
  const r = await request(`${f.proxy.url}/fake-bucket/slow`);
  assert.equal(r.statusCode, 503);
  assert.match(String(r.headers['x-amz-request-id']), /^[0-9A-F]{16}$/);
  assert.match(await r.body.text(), /<Code>ServiceUnavailable<\/Code>/);
});

void test('a client that stops reading does not pin the backend connection', async () => {
  let backendClosed!: () => void;
  const closed = new Promise<void>((r) => (backendClosed = r));
  f.handle((_req, res) => {
    res.on('close', () => backendClosed());
    res.writeHead(200);
    const chunk = Buffer.alloc(64 * 1024, 2);
    const pump = (): void => {
      while (res.write(chunk));
      res.once('drain', pump);
    };
    pump();
  });
  const sock = await open(f.proxy.url);
  sock.pause(); // never reads
  sock.write('GET /fake-bucket/endless HTTP/1.1\r\nHost: x\r\n\r\n');
  await closed; // resolves only once the proxy aborted the backend request
  sock.destroy();
  for (let i = 0; i < 100 && !f.logText().includes('"key":"endless"'); i++)
    await new Promise((r) => setTimeout(r, 20));
  assert.match(f.logText(), /"key":"endless".*"outcome":"timeout"/);
});

void test('a client that reads in bursts is never cut off, however long its response takes', async () => {
  // 32 MiB, read 1 MiB at a time with 50 ms (a sixth of clientIdleMs) between: the proxy's
  // writes back up again and again for ~1.6 s in all, each time for less than clientIdleMs.
  const size = 32 * 1024 * 1024;
  let backendWaited = 0; // times the proxy stopped reading the backend (its socket filled)
  f.handle((_req, res) => {
    res.writeHead(200, { 'content-length': String(size) });
    const chunk = Buffer.alloc(1024 * 1024, 3);
    let sent = 0;
    const pump = (): void => {
      while (sent < size) {
        sent += chunk.length;
        if (!res.write(chunk)) {
          backendWaited++;
          return void res.once('drain', pump);
        }
      }
      res.end();
    };
    pump();
  });
  const sock = await open(f.proxy.url);
  sock.write('GET /fake-bucket/bursty-reader HTTP/1.1\r\nHost: x\r\n\r\n');
  const started = performance.now();
  let head = Buffer.alloc(0);
  let body = 0;
  let burst = 0;
  await new Promise<void>((resolve, reject) => {
    sock.on('close', () => reject(new Error(`the proxy closed the connection after ${body} body bytes`)));
    sock.on('data', (d: Buffer) => {
      if (body === 0 && head.indexOf('\r\n\r\n') < 0) {
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const status = head.subarray(0, end).toString('latin1').split('\r\n')[0];
        if (!status?.startsWith('HTTP/1.1 200 ')) return reject(new Error(`got ${status}`));
        d = head.subarray(end + 4);
      }
      body += d.length;
      burst += d.length;
      if (body >= size) return resolve();
      if (burst >= 1024 * 1024) {
        burst = 0;
        sock.pause();
        setTimeout(() => sock.resume(), 50);
      }
    });
  });
  sock.destroy();
  assert.equal(body, size);
  // The client pushed back (the proxy in turn stopped reading the backend) over several
  // clientIdleMs in all: a timeout counting from the first push-back would have fired.
  assert.ok(backendWaited > 0, 'the proxy paused the backend');
  assert.ok(performance.now() - started > 3 * 300, 'the response took more than 3 × clientIdleMs');
  for (let i = 0; i < 100 && !f.logText().includes('"key":"bursty-reader"'); i++)
    await new Promise((r) => setTimeout(r, 20));
  assert.match(f.logText(), /"key":"bursty-reader".*"outcome":"ok"/);
});

void test('the access log never carries a secret, a signature or a query string', async () => {
  f.handle((_req, res) => res.end('ok'));
  const r = await request(
    `${f.proxy.url}/fake-bucket/k?X-Amz-Signature=deadbeefsig&X-Amz-Credential=CLIENTKEY`,
    {
      headers: { authorization: 'AWS CLIENTKEY:clientsig' },
    },
  );
  await r.body.text();
  const text = f.logText();
  assert.match(text, /"operation":"GetObject"/);
  for (const secret of [SECRET, 'deadbeefsig', 'CLIENTKEY', 'clientsig', 'Signature=', 'AKIDBACKEND']) {
    assert.ok(!text.includes(secret), `log contains ${secret}`);
  }
});

void test('metrics: requests by operation/status class/backend, bytes, in-flight, latency', async () => {
  const r = await request(`${f.proxy.adminUrl}/metrics`);
  const text = await r.body.text();
  assert.match(
    text,
    /sluice_proxy_requests_total\{operation="GetObject",status_class="2xx",backend="fake\/127\.0\.0\.1:\d+"\} \d+/,
  );
  assert.match(text, /sluice_proxy_sent_bytes_total \d+/);
  assert.match(text, /sluice_proxy_in_flight_requests 0/);
  assert.match(text, /sluice_proxy_request_duration_seconds_bucket/);
  assert.equal((await request(`${f.proxy.adminUrl}/healthz`)).statusCode, 200);
  assert.equal((await request(`${f.proxy.adminUrl}/readyz`)).statusCode, 200);
});

void test('connect refused → 503 ServiceUnavailable', async () => {
  const dead = await startFake({}, 'http://127.0.0.1:1');
  try {
    const sock = await open(dead.proxy.url);
    sock.write('GET /fake-bucket/k HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const r = parseResponse(await readAll(sock, 10_000));
    sock.destroy();
    assert.equal(r.status, 503);
  } finally {
    await dead.stop();
  }
});

void test('a backend that stops reading an upload → 503 ServiceUnavailable, not the client blamed', async () => {
  f.handle((req) => req.pause()); // takes the head, never the body, never answers
  const sock = await open(f.proxy.url);
  const size = 64 * 1024 * 1024; // more than loopback socket buffers hold: backpressure reaches the client
  sock.write(`PUT /fake-bucket/stalled-upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n`);
  const chunk = Buffer.alloc(1024 * 1024, 1);
  let sent = 0;
  const pump = (): void => {
    while (sent < size && !sock.destroyed) {
      sent += chunk.length;
      if (!sock.write(chunk)) {
        sock.once('drain', pump);
        return;
      }
    }
  };
  sock.on('error', () => undefined); // the proxy closes the connection after answering
  pump();
  const r = parseResponse(await readAll(sock, 30_000, '</Error>'));
  sock.destroy();
  assert.equal(r.status, 503, r.body);
  assert.match(r.body, /<Code>ServiceUnavailable<\/Code>/);
  assert.ok(sent < size, 'the client was held back, not drained into memory');
});

void test('pipelined GETs on one connection get whole bodies, in order, while a later response waits', async () => {
  // The first response is slow and large: the second waits for it in Node's http server, with no
  // socket of its own yet (forward.ts writes and uncorks through res.socket).
  // Every byte depends on its position, so a read buffer reused before its bytes went out shows.
  const counted = (size: number, seed: number): Buffer => {
    const b = Buffer.alloc(size);
    for (let i = 0; i < size; i += 4) b.writeUInt32BE((i * 2654435761 + seed) >>> 0, i);
    return b;
  };
  const bodies = new Map([
    ['first', counted(3 * 1024 * 1024, 1)],
    ['second', counted(700 * 1024, 2)],
  ]);
  f.handle((req, res) => {
    const name = req.url!.split('/').pop()!;
    const body = bodies.get(name);
    if (!body) return void res.writeHead(404).end(); // not ours (health checks)
    res.writeHead(200, { 'content-length': body.length });
    if (name === 'second') {
      res.end(body);
      return;
    }
    let at = 0;
    const next = (): void => {
      if (at >= body.length) return void res.end();
      res.write(body.subarray(at, at + 256 * 1024));
      at += 256 * 1024;
      setTimeout(next, 10);
    };
    next();
  });
  const sock = await open(f.proxy.url);
  sock.write(
    'GET /fake-bucket/first HTTP/1.1\r\nHost: x\r\n\r\nGET /fake-bucket/second HTTP/1.1\r\nHost: x\r\n\r\n',
  );
  const chunks: Buffer[] = [];
  let total = 0;
  // Both heads (each up to its blank line) and both bodies, as their Content-Lengths say.
  const complete = (all: Buffer): boolean => {
    const firstHead = all.indexOf('\r\n\r\n');
    if (firstHead < 0) return false;
    const secondStart = firstHead + 4 + 3 * 1024 * 1024;
    const secondHead = all.indexOf('\r\n\r\n', secondStart);
    return secondHead >= 0 && all.length >= secondHead + 4 + 700 * 1024;
  };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${total} bytes in 10 s`)), 10_000);
    sock.on('data', (b: Buffer) => {
      chunks.push(b);
      total += b.length;
      // Joined only once both bodies can be in, not on every chunk.
      if (total >= (3 * 1024 + 700) * 1024 && complete(Buffer.concat(chunks))) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  sock.destroy();
  const all = Buffer.concat(chunks);
  const firstHead = all.indexOf('\r\n\r\n') + 4;
  assert.match(all.subarray(0, firstHead).toString('latin1'), /^HTTP\/1\.1 200 .*content-length: 3145728/is);
  assert.ok(
    all.subarray(firstHead, firstHead + 3 * 1024 * 1024).equals(bodies.get('first')!),
    'first body whole',
  );
  const rest = all.subarray(firstHead + 3 * 1024 * 1024);
  const secondHead = rest.indexOf('\r\n\r\n') + 4;
  assert.match(rest.subarray(0, secondHead).toString('latin1'), /^HTTP\/1\.1 200 .*content-length: 716800/is);
  assert.ok(rest.subarray(secondHead).equals(bodies.get('second')!), 'second body whole, nothing after it');
});

void test('a malformed request pipelined behind a GET is answered after the whole body, not inside it', async () => {
  // The GET's body is still streaming when Node's parser meets the bad request: a 400 written
  // then would be read as the object's last bytes (its Content-Length already satisfied).
  const size = 100_010;
  f.handle((req, res) => {
    if (!req.url!.endsWith('/slow-body')) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': size });
    res.write(Buffer.alloc(size - 10, 'a'));
    setTimeout(() => res.end(Buffer.alloc(10, 'a')), 300);
  });
  const sock = await open(f.proxy.url);
  sock.write('GET /fake-bucket/slow-body HTTP/1.1\r\nHost: x\r\n\r\n');
  const first = await readAll(sock, 5_000, '\r\n\r\n'); // the head is out, the body streaming
  sock.write('GET /x HTTP/1.1\r\nBad Header Line\r\n\r\n');
  const text = first + (await readAll(sock, 5_000));
  sock.destroy();
  const head = text.indexOf('\r\n\r\n') + 4;
  assert.match(text.slice(0, head), /^HTTP\/1\.1 200/);
  assert.equal(text.slice(head, head + size), 'a'.repeat(size), 'the body, whole and unmixed');
  const after = parseResponse(text.slice(head + size));
  assert.equal(after.status, 400, 'then the error, as a response of its own');
  assert.match(after.body, /<Code>BadRequest<\/Code>/);
});

void test('DeleteObjects: a backend slower than clientIdleMs still answers (the body was read whole before)', async (t) => {
  const slow = await startFake({ timeouts: { clientIdleMs: 300, backendFirstByteMs: 5_000 } });
  t.after(() => slow.stop());
  slow.handle((req, res) => {
    if (req.method !== 'POST') return void res.writeHead(404).end();
    req.resume();
    req.on('end', () => {
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/xml' });
        res.end(
          '<?xml version="1.0" encoding="UTF-8"?><DeleteResult><Deleted><Key>a</Key></Deleted></DeleteResult>',
        );
      }, 1_000); // clientIdleMs is 300 here
    });
  });
  const body = '<?xml version="1.0" encoding="UTF-8"?><Delete><Object><Key>a</Key></Object></Delete>';
  const r = await request(`${slow.proxy.url}/fake-bucket?delete`, {
    method: 'POST',
    body,
    headers: { 'content-md5': createHash('md5').update(body).digest('base64') },
  });
  const text = await r.body.text();
  assert.equal(r.statusCode, 200, text);
  assert.match(text, /<Deleted><Key>a<\/Key><\/Deleted>/);
});

void test('DeleteObjects: a chunked body over the bound is answered MalformedXML, and nothing reaches the backend', async () => {
  const before = f.seen.filter((r) => r.method === 'POST').length;
  const big = Buffer.alloc(1024 * 1024 + 64 * 1024, ' ');
  const r = await request(`${f.proxy.url}/fake-bucket?delete`, {
    method: 'POST',
    body: Readable.from([Buffer.from('<?xml version="1.0"?><Delete>'), big]), // no length: chunked
  });
  const text = await r.body.text();
  assert.equal(r.statusCode, 400, text);
  assert.match(text, /<Code>MalformedXML<\/Code>/);
  assert.equal(f.seen.filter((x) => x.method === 'POST').length, before);
  // Logged as the policy's refusal, as one whose Content-Length said it is too large.
  for (let i = 0; i < 100 && !f.logText().includes('deny:delete-too-large'); i++)
    await new Promise((r) => setTimeout(r, 20));
  assert.match(f.logText(), /deny:delete-too-large/);
});

void describe('ListBuckets filtering and compression', () => {
  const listing =
    '<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult><Buckets>' +
    '<Bucket><Name>fake-bucket</Name></Bucket><Bucket><Name>secret</Name></Bucket></Buckets></ListAllMyBucketsResult>';
  const listBuckets = async (): Promise<{ status: number; text: string }> => {
    const r = await request(`${f.proxy.url}/`, { headers: { 'accept-encoding': 'gzip' } });
    return { status: r.statusCode, text: await r.body.text() };
  };
  void test('the backend is asked for an uncompressed listing, which is filtered', async () => {
    f.handle((req, res) => {
      if (req.url !== '/') return void res.writeHead(404).end();
      const gzip = String(req.headers['accept-encoding'] ?? '').includes('gzip');
      res.writeHead(200, gzip ? { 'content-encoding': 'gzip' } : {});
      res.end(gzip ? gzipSync(listing) : listing);
    });
    const r = await listBuckets();
    assert.equal(f.seen.at(-1)!.headers['accept-encoding'], 'identity');
    assert.equal(r.status, 200, r.text);
    assert.match(r.text, /<Name>fake-bucket<\/Name>/);
    assert.ok(!r.text.includes('secret'));
  });
  void test('asked for in pages, the listing is fetched whole: no paging leaks how many hidden buckets match', async () => {
    f.handle((req, res) => {
      if (!req.url!.startsWith('/?') && req.url !== '/') return void res.writeHead(404).end();
      res.writeHead(200);
      res.end(listing.replace('</Buckets>', '</Buckets><ContinuationToken>more-secrets</ContinuationToken>'));
    });
    const r = await request(`${f.proxy.url}/?prefix=s&max-buckets=1&continuation-token=abc`);
    const text = await r.body.text();
    assert.equal(r.statusCode, 200, text);
    assert.equal(f.seen.at(-1)!.url, '/?prefix=s', 'paging parameters dropped, the prefix kept');
    assert.match(text, /<Name>fake-bucket<\/Name>/);
    assert.ok(!text.includes('ContinuationToken'), text);
    assert.ok(!text.includes('secret'), text);
  });
  void test('a listing compressed anyway is refused, not passed on unfiltered', async () => {
    f.handle((req, res) => {
      if (req.url !== '/') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-encoding': 'gzip' });
      res.end(gzipSync(listing));
    });
    const r = await listBuckets();
    assert.equal(r.status, 500, r.text);
    assert.match(r.text, /<Code>InternalError<\/Code>/);
  });
});

void test('an unreachable host is a connect failure only while connecting (a DELETE is then not retried)', () => {
  const err = (code: string, syscall: string): Error => Object.assign(new Error(code), { code, syscall });
  for (const code of ['EHOSTUNREACH', 'ENETUNREACH']) {
    assert.equal(classify(err(code, 'connect')).failure, 'connect');
    assert.equal(classify(err(code, 'read')).failure, 'reset');
  }
  assert.equal(classify(err('ECONNREFUSED', 'connect')).failure, 'connect');
  // Our own pool's queue timed out: retried, never held against the backend (no ejection).
  const queued = classify(new UpstreamError('QUEUE_TIMEOUT', 'busy'));
  assert.equal(queued.failure, 'queued');
  assert.equal(queued.error.spec.status, 503);
});

void test('a broken HTTP chunk inside an upload is answered 400 at once, not after the idle timeout', async () => {
  const slow = await startFake({ timeouts: { clientIdleMs: 30_000 } });
  try {
    slow.handle((req, res) => {
      req.resume();
      req.on('end', () => res.end());
    });
    const sock = await open(slow.proxy.url);
    const started = Date.now();
    sock.write(
      'PUT /fake-bucket/broken HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n',
    );
    const r = parseResponse(await readAll(sock, 10_000));
    sock.destroy();
    assert.equal(r.status, 400, r.text);
    assert.match(r.body, /<Code>BadRequest<\/Code>/);
    assert.ok(Date.now() - started < 5_000, 'answered at once');
    assert.equal((r.text.match(/HTTP\/1\.1 /g) ?? []).length, 1, 'one answer');
  } finally {
    await slow.stop();
  }
});

void describe('what the client sends that the store would read differently', () => {
  const inFlight = async (): Promise<number> => (await f.proxy.metrics.inFlight.get()).values[0]?.value ?? 0;

  void test('a DELETE pipelined behind a PUT of the same key reaches the store after the PUT is answered', async () => {
    const events: string[] = [];
    f.handle((req, res) => {
      if (!req.url!.endsWith('/ordered')) return void res.writeHead(404).end();
      events.push(`got ${req.method}`);
      req.resume();
      req.on('end', () => {
        const answer = (): void => {
          events.push(`answered ${req.method}`);
          res.writeHead(req.method === 'PUT' ? 200 : 204).end();
        };
        if (req.method === 'PUT') setTimeout(answer, 200);
        else answer();
      });
    });
    const sock = await open(f.proxy.url);
    sock.write(
      'PUT /fake-bucket/ordered HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc' +
        'DELETE /fake-bucket/ordered HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    const text = await readAll(sock, 5_000, 'HTTP/1.1 204');
    sock.destroy();
    assert.match(text, /^HTTP\/1\.1 200/);
    assert.deepEqual(events, ['got PUT', 'answered PUT', 'got DELETE', 'answered DELETE']);
  });

  void test('requests waiting behind one whose client left are dropped, and nothing stays in flight', async () => {
    const got: string[] = [];
    let answered = 0;
    f.handle((req, res) => {
      if (!req.url!.includes('/left-')) return void res.writeHead(404).end();
      got.push(req.url!);
      setTimeout(() => {
        answered++;
        res.writeHead(200, { 'content-length': '2' }).end('ok');
      }, 300);
    });
    const sock = await open(f.proxy.url);
    sock.write(
      'GET /fake-bucket/left-1 HTTP/1.1\r\nHost: x\r\n\r\nDELETE /fake-bucket/left-2 HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    await until(() => got.length === 1, 'the GET reached the store', { everyMs: 10 });
    sock.destroy();
    // Past the GET's answer: a DELETE still waiting behind it would go out then.
    await until(() => answered === 1, 'the GET answered', { everyMs: 10 });
    await until(async () => (await inFlight()) === 0, 'nothing in flight', { everyMs: 10 });
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(got, ['/fake-bucket/left-1'], 'the waiting DELETE never went out');
    assert.equal(await inFlight(), 0);
  });

  void test('X-Forwarded-For, X-Real-IP and Forwarded are not passed on (stores take the source IP from them)', async () => {
    f.handle((_req, res) => res.end('ok'));
    const r = await request(`${f.proxy.url}/fake-bucket/ip`, {
      headers: {
        'x-forwarded-for': '10.99.0.1',
        'x-real-ip': '10.99.0.1',
        forwarded: 'for=10.99.0.1',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'elsewhere',
      },
    });
    await r.body.text();
    const seen = f.seen.at(-1)!;
    for (const h of ['x-forwarded-for', 'x-real-ip', 'forwarded', 'x-forwarded-proto', 'x-forwarded-host'])
      assert.equal(seen.headers[h], undefined, h);
  });

  void test('a SigV4a client (x-amz-region-set header or presign parameter) is served, its signature not passed on', async () => {
    f.handle((_req, res) => res.end('ok'));
    const header = await request(`${f.proxy.url}/fake-bucket/v4a`, {
      headers: {
        authorization:
          'AWS4-ECDSA-P256-SHA256 Credential=AKIA/20260101/s3/aws4_request, SignedHeaders=host;x-amz-region-set, Signature=3045',
        'x-amz-region-set': '*',
      },
    });
    assert.equal(header.statusCode, 200, await header.body.text());
    assert.equal(f.seen.at(-1)!.headers['x-amz-region-set'], undefined);
    const presigned = await request(
      `${f.proxy.url}/fake-bucket/v4a?X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256&X-Amz-Credential=AKIA%2F20260101%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=900&X-Amz-Region-Set=%2A&X-Amz-SignedHeaders=host&X-Amz-Signature=3045`,
    );
    assert.equal(presigned.statusCode, 200, await presigned.body.text());
    assert.doesNotMatch(f.seen.at(-1)!.url, /region-set/i);
  });

  /** Sends `data` raw and reads the S3 error; asserts nothing reached the store. */
  const refusedUnsent = async (data: string): Promise<{ status: number; body: string }> => {
    const before = f.seen.length;
    const r = await rawRequest(f.proxy.url, data, 5_000, '</Error>');
    assert.equal(f.seen.length, before, 'nothing reached the store');
    return r;
  };

  void test('a Connection header naming a header it carries is refused, not trimmed', async () => {
    const r = await refusedUnsent(
      'PUT /fake-bucket/dst HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, x-amz-copy-source\r\n' +
        'x-amz-copy-source: /fake-bucket/src\r\nContent-Length: 3\r\n\r\nabc',
    );
    assert.equal(r.status, 400);
    assert.match(r.body, /<Code>InvalidArgument<\/Code>/);
  });

  void test('x-amz-trailer on an aws-chunked body framed without trailers is refused (the header would go on, the trailer not)', async () => {
    const r = await refusedUnsent(
      'PUT /fake-bucket/k HTTP/1.1\r\nHost: x\r\nx-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\r\n' +
        'x-amz-trailer: x-amz-checksum-crc32\r\nx-amz-decoded-content-length: 1\r\nContent-Length: 9\r\n\r\n' +
        '1\r\nA\r\n0\r\n\r\n',
    );
    assert.equal(r.status, 400);
    assert.match(r.body, /<Code>InvalidArgument<\/Code>/);
  });

  void test('a single-valued header given twice is refused (the policy reads the first, the store maybe the other)', async () => {
    const r = await refusedUnsent(
      'POST /fake-bucket/k?uploads HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n' +
        'Content-Type: multipart/form-data; boundary=b\r\n\r\n',
    );
    assert.equal(r.status, 400);
    assert.match(r.body, /Content-Type is given more than once/);
  });

  void test("a backend's Content-Length beside chunked framing is not passed on with the decoded body", async () => {
    f.handle((_req, res) => {
      res.setHeader('content-length', '5');
      res.setHeader('transfer-encoding', 'chunked');
      res.writeHead(200);
      res.end('HELLO, and more than five bytes');
    });
    const sock = await open(f.proxy.url);
    sock.write('GET /fake-bucket/both HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const text = await readAll(sock, 5_000);
    sock.destroy();
    const head = text.slice(0, text.indexOf('\r\n\r\n')).toLowerCase();
    assert.doesNotMatch(head, /content-length/);
    assert.match(head, /transfer-encoding: chunked/);
    assert.match(text, /HELLO, and more than five bytes/);
  });
});

/**
 * A proxy with a 1 s header timeout in front of a backend that answers `/held` after `heldMs`
 * and anything else at once; a raw connection to it.
 */
async function heldFirst(t: TestContext, heldMs: number): Promise<Socket> {
  const stack = await startFake({ timeouts: { requestHeaderTimeoutMs: 1_000 } });
  t.after(() => stack.stop());
  stack.handle((req, res) => {
    const answer = (): void => void res.writeHead(200, { 'content-length': '2' }).end('ok');
    if (req.url!.endsWith('/held')) setTimeout(answer, heldMs);
    else answer();
  });
  return open(stack.proxy.url);
}

void describe('Connection and pipelining at the edges', () => {
  void test('an h2c upgrade attempt (Connection: Upgrade, HTTP2-Settings) is served over HTTP/1.1, the named headers dropped', async () => {
    f.handle((_req, res) => res.end('ok'));
    const before = f.seen.length;
    const r = await rawRequest(
      f.proxy.url,
      'GET /fake-bucket/h2c HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n' +
        'Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n',
      5_000,
      'ok',
    );
    assert.equal(r.status, 200);
    const seen = f.seen.slice(before).find((s) => s.url.endsWith('/h2c'))!;
    assert.equal(seen.headers['http2-settings'], undefined);
    assert.equal(seen.headers.upgrade, undefined);
  });

  void test('a client pipelining without reading answers is read no further while 16 requests wait, then answered in full', async (t) => {
    const stack = await startFake();
    t.after(() => stack.stop());
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    stack.handle((req, res) => {
      const answer = (): void => void res.writeHead(200, { 'content-length': '2' }).end('ok');
      if (req.url!.endsWith('/held')) void held.then(answer);
      else answer();
    });
    const sock = await open(stack.proxy.url);
    let answers = 0;
    let tail = '';
    sock.on('data', (b: Buffer) => {
      const text = tail + b.toString('latin1');
      answers += text.split('HTTP/1.1 200 ').length - 1;
      tail = text.slice(-12);
    });
    sock.pause(); // the client reads no answer while it writes
    sock.write('GET /fake-bucket/held HTTP/1.1\r\nHost: x\r\n\r\n');
    // ~12 KB per request; up to 64 MB of them. Unbounded, the proxy parsed them all as fast as
    // they came; bounded, it stops reading and the kernel's buffers (a few MB) fill.
    const one = `GET /fake-bucket/k HTTP/1.1\r\nHost: x\r\nx-pad: ${'p'.repeat(12_000)}\r\n\r\n`;
    const batch = one.repeat(16);
    let sent = 1;
    let written = 0;
    let stalled = false;
    while (written < 64 * 1024 * 1024) {
      sent += 16;
      written += batch.length;
      if (sock.write(batch)) continue;
      const drained = await Promise.race([
        new Promise<boolean>((r) => sock.once('drain', () => r(true))),
        new Promise<boolean>((r) => setTimeout(() => r(false), 1_000)),
      ]);
      if (!drained) {
        stalled = true;
        break;
      }
    }
    assert.ok(stalled, `the proxy read all ${written} bytes of ${sent} pipelined requests`);
    assert.ok(written < 32 * 1024 * 1024, `${written} bytes written before the proxy stopped reading`);
    // Released, every request is answered, in order, on the same connection.
    release();
    sock.resume();
    const deadline = Date.now() + 60_000;
    while (answers < sent && Date.now() < deadline && !sock.destroyed) {
      await new Promise((r) => setTimeout(r, 50));
    }
    sock.destroy();
    assert.equal(answers, sent, 'every pipelined request answered');
  });

  void test('a request whose head the pipelining bound cut in two is not timed out while the proxy holds it', async (t) => {
    // 60 requests of ~5 KB in one write: the proxy stops reading with part of one head read.
    // That head completes only once the slow first answer is out, after the header timeout.
    const sock = await heldFirst(t, 2_500);
    let text = '';
    sock.on('data', (b: Buffer) => (text += b.toString('latin1')));
    let out = 'GET /fake-bucket/held HTTP/1.1\r\nHost: x\r\n\r\n';
    for (let i = 0; i < 60; i++)
      out += `GET /fake-bucket/k${i} HTTP/1.1\r\nHost: x\r\nx-pad: ${'p'.repeat(5_000)}\r\n\r\n`;
    sock.write(out);
    const deadline = Date.now() + 15_000;
    while (text.split('HTTP/1.1 ').length - 1 < 61 && Date.now() < deadline && !sock.destroyed) {
      await new Promise((r) => setTimeout(r, 50));
    }
    sock.destroy();
    const statuses = [...text.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => m[1]);
    assert.equal(statuses.length, 61, 'every request answered');
    assert.ok(
      statuses.every((s) => s === '200'),
      `statuses: ${statuses.join(',')}`,
    );
  });

  void test('a head cut by the pipelining bound that never completes still times out, counted from the resume', async (t) => {
    const sock = await heldFirst(t, 2_000);
    let text = '';
    sock.on('data', (b: Buffer) => (text += b.toString('latin1')));
    const closed = new Promise<number>((r) => sock.once('close', () => r(Date.now())));
    // 17 requests wait behind the held one (the proxy stops reading), then a head that never ends.
    let out = 'GET /fake-bucket/held HTTP/1.1\r\nHost: x\r\n\r\n';
    for (let i = 0; i < 17; i++) out += `GET /fake-bucket/k${i} HTTP/1.1\r\nHost: x\r\n\r\n`;
    sock.write(out + 'GET /fake-bucket/slow HTTP/1.1\r\nHost: x\r\n');
    const start = Date.now();
    const end = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 10_000))]);
    sock.destroy();
    assert.ok(end > 0, 'the connection was closed');
    // The held answer (2 s), then the deadline from the resume (1 s), checked at most 1 s late.
    assert.ok(end - start >= 2_900, `closed after ${end - start} ms`);
    const statuses = [...text.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => m[1]);
    assert.deepEqual(statuses, [...Array<string>(18).fill('200'), '400']);
    assert.match(text, /<Code>RequestTimeout<\/Code>/);
  });

  void test('a request pipelined behind one answered with Connection: close never reaches the store', async (t) => {
    const bounded = await startFake({ keepAlive: { maxRequests: 1 } });
    t.after(() => bounded.stop());
    bounded.handle((_req, res) => res.writeHead(200, { 'content-length': '2' }).end('ok'));
    const sock = await open(bounded.proxy.url);
    sock.write(
      'GET /fake-bucket/first HTTP/1.1\r\nHost: x\r\n\r\nDELETE /fake-bucket/second HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    const text = await readAll(sock, 5_000);
    sock.destroy();
    assert.match(text, /^HTTP\/1\.1 200/);
    assert.match(text.toLowerCase(), /connection: close/);
    await new Promise((r) => setTimeout(r, 200));
    const urls = bounded.seen.map((s) => s.url).filter((u) => u.startsWith('/fake-bucket/'));
    assert.deepEqual(urls, ['/fake-bucket/first'], 'the DELETE was never sent');
  });
});

/**
 * A proxy in front of a raw backend whose answer to each request head is `answer(head)` as written
 * (node:http will not write repeated or forbidden headers); stopped after the test.
 */
async function rawBackendStack(t: TestContext, answer: (head: string) => string): Promise<FakeStack> {
  const raw = createNetServer((s) => {
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      while (buf.includes('\r\n\r\n')) {
        const head = buf.slice(0, buf.indexOf('\r\n\r\n'));
        buf = buf.slice(head.length + 4);
        s.write(answer(head));
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
  const stack = await startFake({}, `http://127.0.0.1:${(raw.address() as AddressInfo).port}`);
  t.after(async () => {
    await stack.stop();
    raw.close();
  });
  return stack;
}

void test('repeated identical Content-Length from the backend goes to the client as one line', async (t: TestContext) => {
  // Two lines for k0, one line listing it twice for k1.
  const stack = await rawBackendStack(t, (head) => {
    const repeat = head.includes('/k1 ') ? 'Content-Length: 5, 5' : 'Content-Length: 5\r\nContent-Length: 5';
    return `HTTP/1.1 200 OK\r\n${repeat}\r\nx-amz-request-id: R1\r\n\r\nhello`;
  });
  for (let i = 0; i < 2; i++) {
    const r = await request(`${stack.proxy.url}/fake-bucket/k${i}`);
    assert.equal(r.statusCode, 200);
    assert.equal(await r.body.text(), 'hello');
    const sock = await open(stack.proxy.url);
    sock.write(`GET /fake-bucket/k${i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    const text = await readAll(sock, 5_000);
    sock.destroy();
    assert.equal(text.match(/^content-length:/gim)?.length, 1, text);
    assert.match(text, /^content-length: 5\r$/im);
  }
});

void test("what a backend's head carries that is not the client's: headers its Connection names, a 204's Content-Length, differing lengths on a HEAD", async (t: TestContext) => {
  const stack = await rawBackendStack(t, (head) => {
    if (head.includes('/named '))
      return (
        'HTTP/1.1 200 OK\r\nConnection: X-Backend-Secret, Content-Length, ETag, x-amz-request-id\r\n' +
        'X-Backend-Secret: s3cr3t\r\nETag: "e1"\r\nx-amz-request-id: R9\r\nContent-Length: 2\r\n\r\nok'
      );
    if (head.includes('/nocontent '))
      return 'HTTP/1.1 204 No Content\r\nContent-Length: 10\r\nx-amz-request-id: R2\r\n\r\n';
    if (head.startsWith('HEAD ')) return 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n';
    return 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'; // health checks
  });
  const exchange = async (line: string): Promise<string> => {
    const sock = await open(stack.proxy.url);
    sock.write(`${line} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    const text = await readAll(sock, 5_000);
    sock.destroy();
    return text;
  };
  const named = await exchange('GET /fake-bucket/named');
  assert.match(named, /^HTTP\/1\.1 200/);
  assert.doesNotMatch(named, /x-backend-secret/i);
  // What every client reads passes although the backend named it (RFC 9110 forbids that).
  assert.match(named, /^content-length: 2\r$/im);
  assert.match(named, /^etag: "e1"\r$/im);
  assert.match(named, /^x-amz-request-id: R9\r$/im);
  const noContent = await exchange('DELETE /fake-bucket/nocontent');
  assert.match(noContent, /^HTTP\/1\.1 204/);
  assert.doesNotMatch(noContent, /^content-length/im);
  const head = await exchange('HEAD /fake-bucket/differing');
  // Differing lengths never reach the client: the proxy's own error (a HEAD's, so no body).
  assert.match(head, /^HTTP\/1\.1 500 /);
  assert.match(head, /^x-amz-request-id: [0-9A-F]{16}\r$/im);
});

void test('RestoreObject: a plain restore reaches the backend whole, a SELECT restore is refused unsent', async () => {
  const bodies: string[] = [];
  f.handle((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (req.method === 'POST') bodies.push(body); // not the health checks
      res.writeHead(202).end();
    });
  });
  const plain = '<RestoreRequest><Days>2</Days></RestoreRequest>';
  const ok = await request(`${f.proxy.url}/fake-bucket/archived?restore`, { method: 'POST', body: plain });
  await ok.body.text();
  assert.equal(ok.statusCode, 202);
  assert.deepEqual(bodies, [plain]);
  const select =
    '<RestoreRequest><Type>SELECT</Type><OutputLocation><S3><BucketName>other</BucketName></S3></OutputLocation></RestoreRequest>';
  const r = await request(`${f.proxy.url}/fake-bucket/archived?restore`, { method: 'POST', body: select });
  assert.equal(r.statusCode, 403);
  assert.match(await r.body.text(), /<Code>AccessDenied<\/Code>/);
  assert.deepEqual(bodies, [plain], 'nothing more reached the backend');
});
