import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  LARGE_READ_BUFFERS,
  READ_BUFFER_BYTES,
  SMALL_READ_BUFFER_BYTES,
  largeReadBuffers,
} from '../../../proxy/http1/connection.ts';
import { until } from '../../testbed/until.ts';
import { makePool, request, response, startRawServer } from './raw-server.ts';

// Read buffers: the first LARGE_READ_BUFFERS connections of the process read 256 KiB at a time,
// later ones 128 KiB (the memory of 64 concurrent large transfers); a destroyed connection gives
// its large buffer's place back.

const POLL = { everyMs: 10 };

void describe('UpstreamConnection: read buffer budget', () => {
  void test('beyond the budget, connections read at most SMALL_READ_BUFFER_BYTES at a time', async (t) => {
    const body = randomBytes(1024 * 1024);
    const srv = await startRawServer(t, (c) => c.socket.write(response(body)));
    const pool = makePool(t, srv.origin);
    const exchanges = LARGE_READ_BUFFERS + 8;
    const largest: number[] = [];
    const received: number[] = [];
    let ended = 0;
    // The responses are held until every connection is open, so all of them exist at once.
    const hold: (() => void)[] = [];
    srv.respond = (c) => hold.push(() => c.socket.write(response(body)));
    for (let i = 0; i < exchanges; i++) {
      largest.push(0);
      received.push(0);
      pool.dispatch(request(), {
        onResponseStart() {},
        onResponseData(_c, chunk) {
          largest[i] = Math.max(largest[i]!, chunk.length);
          received[i]! += chunk.length;
        },
        onResponseEnd: () => ended++,
        onResponseError: (_c, err) => assert.fail(err),
      });
    }
    await until(() => hold.length === exchanges, 'every request reached the server', POLL);
    assert.equal(largeReadBuffers(), LARGE_READ_BUFFERS);
    for (const send of hold) send();
    await until(() => ended === exchanges, 'every response ended', POLL);
    assert.deepEqual(received, Array(exchanges).fill(body.length));
    assert.ok(largest.every((n) => n <= READ_BUFFER_BYTES));
    const large = largest.filter((n) => n > SMALL_READ_BUFFER_BYTES).length;
    assert.ok(large <= LARGE_READ_BUFFERS, `${large} connections read more than the small buffer at once`);
    await pool.destroy();
    assert.equal(largeReadBuffers(), 0, 'destroyed connections give their places back');
  });
});
