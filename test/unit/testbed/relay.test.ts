// The delaying relay against real TCP servers on port 0: bytes are relayed intact in both
// directions, delay is applied (lower bounds only), pause refuses and cuts, resume reopens.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { startRelay } from '../../testbed/relay.ts';
import type { Relay } from '../../testbed/relay.ts';

/** An echo server: writes back every byte, and ends when the client ends. */
async function echoServer(): Promise<Server> {
  const srv = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => srv.listen({ host: '127.0.0.1', port: 0 }, r));
  return srv;
}

const portOf = (srv: Server): number => (srv.address() as AddressInfo).port;

/** Connects to the relay, sends `data`, half-closes, resolves with everything received. */
function roundTrip(port: number, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    const got: Buffer[] = [];
    s.on('data', (b: Buffer) => got.push(b));
    s.on('end', () => resolve(Buffer.concat(got)));
    s.on('error', reject);
    s.end(data);
  });
}

/** Sends `line` on an open socket and resolves when that many bytes came back. */
function ping(s: Socket, line: string): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const on = (b: Buffer): void => {
      got += b.toString();
      if (got.length >= line.length) {
        s.off('data', on);
        resolve(got);
      }
    };
    s.on('data', on);
    s.write(line);
  });
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

void describe('delaying TCP relay', () => {
  const servers: Server[] = [];
  const relays: Relay[] = [];
  after(async () => {
    for (const r of relays) await r.close();
    for (const s of servers) await new Promise((r) => s.close(r));
  });
  const setup = async (delayMs = 0): Promise<Relay> => {
    const srv = await echoServer();
    servers.push(srv);
    const relay = await startRelay({ target: { port: portOf(srv) }, delayMs });
    relays.push(relay);
    return relay;
  };

  void test('relays 8 MiB both ways intact and in order, and forwards the half-close', async () => {
    const relay = await setup();
    const data = randomBytes(8 << 20);
    const back = await roundTrip(relay.port, data);
    assert.equal(back.length, data.length);
    assert.equal(sha(back), sha(data));
  });

  void test('with a delay, 3 MiB still arrive intact and in order (chunks queued, source paused)', async () => {
    const relay = await setup(5);
    const data = randomBytes(3 << 20);
    const back = await roundTrip(relay.port, data);
    assert.equal(sha(back), sha(data));
    assert.equal(relay.queuedBytes, 0);
  });

  void test('a round trip through a delayed relay takes at least twice the delay', async () => {
    const relay = await setup(150);
    const t0 = performance.now();
    const back = await roundTrip(relay.port, Buffer.from('hello'));
    const took = performance.now() - t0;
    assert.equal(back.toString(), 'hello');
    assert.ok(took >= 300, `took ${took} ms, expected >= 300 ms`);
  });

  void test('setDelay applies to a connection that is already open', async () => {
    const relay = await setup(0);
    const s = connect({ host: '127.0.0.1', port: relay.port });
    await new Promise((r) => s.once('connect', r));
    assert.equal(await ping(s, 'a'), 'a');
    relay.setDelay(200);
    const t0 = performance.now();
    assert.equal(await ping(s, 'b'), 'b');
    const took = performance.now() - t0;
    s.destroy();
    assert.ok(took >= 400, `took ${took} ms after setDelay(200), expected >= 400 ms`);
    assert.equal(relay.delayMs, 200);
  });

  void test('pause refuses new connections and cuts open ones; resume accepts again on the same port', async () => {
    const relay = await setup();
    const port = relay.port;
    const open = connect({ host: '127.0.0.1', port });
    await new Promise((r) => open.once('connect', r));
    assert.equal(await ping(open, 'x'), 'x');
    const closed = new Promise((r) => open.once('close', r));
    open.on('error', () => {});
    await relay.pause();
    await closed;
    assert.equal(relay.connections, 0);
    await assert.rejects(roundTrip(port, Buffer.from('y')), (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, 'ECONNREFUSED');
      return true;
    });
    await relay.resume();
    assert.equal(relay.port, port);
    assert.equal((await roundTrip(port, Buffer.from('z'))).toString(), 'z');
  });

  void test('a refused upstream resets the client instead of hanging it', async () => {
    const srv = await echoServer();
    const deadPort = portOf(srv);
    await new Promise((r) => srv.close(r));
    const relay = await startRelay({ target: { port: deadPort } });
    relays.push(relay);
    const outcome = await new Promise<string>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: relay.port });
      s.on('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code}`));
      s.on('close', () => resolve('closed'));
      s.write('hi');
    });
    assert.match(outcome, /closed|error/);
  });

  void test('a client that goes away closes the upstream connection too (no leaked sockets)', async () => {
    // An upstream that never ends on its own, like an HTTP server holding a keep-alive socket
    // (which, like Go's net/http, closes once it reads EOF from the client).
    let upstreamClosed!: () => void;
    const closed = new Promise<void>((r) => {
      upstreamClosed = r;
    });
    const srv = createServer({ allowHalfOpen: false }, (s) => {
      s.on('error', () => {});
      s.on('data', (b: Buffer) => s.write(b));
      s.on('close', () => upstreamClosed());
    });
    await new Promise<void>((r) => srv.listen({ host: '127.0.0.1', port: 0 }, r));
    servers.push(srv);
    const relay = await startRelay({ target: { port: portOf(srv) }, delayMs: 20 });
    relays.push(relay);
    const s = connect({ host: '127.0.0.1', port: relay.port });
    await new Promise((r) => s.once('connect', r));
    assert.equal(await ping(s, 'k'), 'k');
    s.destroy();
    await closed;
    for (let i = 0; i < 100 && relay.connections > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(relay.connections, 0);
  });

  void test('rejects a negative or non-finite delay', async () => {
    const relay = await setup();
    assert.throws(() => relay.setDelay(-1), RangeError);
    assert.throws(() => relay.setDelay(Number.NaN), RangeError);
  });
});
