/**
 * The admin listener's default, ":7481": every address of both families, so kubelet can probe an
 * IPv6-only pod on its IPv6 address (0.0.0.0 is IPv4 only). Checked on loopback: 127.0.0.1, and
 * ::1 where the machine has IPv6.
 */
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { after, test } from 'node:test';
import { request } from 'undici';
import { startFake, type FakeStack } from './fake-backend.ts';

let f: FakeStack | undefined;
after(() => f?.stop());

void test('an admin listener without a host answers on IPv4 and IPv6 loopback', async (t) => {
  f = await startFake({ admin: ':0' });
  const port = new URL(f.proxy.adminUrl).port;
  const v4 = await request(`http://127.0.0.1:${port}/healthz`);
  assert.equal(v4.statusCode, 200);
  await v4.body.text();
  const hasV6 = Object.values(networkInterfaces()).some((list) =>
    list?.some((i) => i.family === 'IPv6' && i.address === '::1'),
  );
  if (!hasV6) {
    t.skip('no ::1 on this machine: IPv6 not checked');
    return;
  }
  const v6 = await request(`http://[::1]:${port}/healthz`);
  assert.equal(v6.statusCode, 200);
  await v6.body.text();
});
