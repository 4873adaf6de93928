import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { freePort, freePorts } from '../../testbed/ports.ts';

void describe('freePort', () => {
  void test('hands out distinct ports that can be bound on 127.0.0.1', async () => {
    const ports = await freePorts(20);
    assert.equal(new Set(ports).size, 20);
    for (const port of ports) {
      assert.ok(port > 0 && port < 65536);
      await new Promise<void>((resolve, reject) => {
        const srv = createServer();
        srv.once('error', reject);
        srv.listen({ host: '127.0.0.1', port }, () => srv.close(() => resolve()));
      });
    }
  });

  void test('never returns a port it returned before, even once it is free again', async () => {
    const first = await freePort();
    const later = await freePorts(30);
    assert.ok(!later.includes(first));
  });
});
