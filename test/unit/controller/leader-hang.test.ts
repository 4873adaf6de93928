/**
 * A leader whose Lease renewal hangs (an API server that accepts the connection and never
 * answers) steps down within its renew deadline: undici's own timeouts are minutes, while
 * another replica takes the Lease once it expires.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeClient } from '../../../operator/kube/client.ts';
import { LeaderElector } from '../../../operator/kube/leader.ts';

void test('a renewal that hangs ends leadership at the renew deadline', async () => {
  let lease: Record<string, unknown> | undefined;
  let hang = false;
  const hung = (signal?: AbortSignal): Promise<never> =>
    new Promise((_resolve, reject) => {
      signal?.addEventListener('abort', () => reject(signal.reason as Error));
    });
  const client = {
    getOrUndefined: (_path: string, signal?: AbortSignal) =>
      hang ? hung(signal) : Promise.resolve(lease && structuredClone(lease)),
    create: (_path: string, body: Record<string, unknown>) => {
      lease = { ...body, metadata: { ...(body.metadata as object), resourceVersion: '1' } };
      return Promise.resolve(lease);
    },
    replace: (_path: string, body: Record<string, unknown>) => {
      lease = body;
      return Promise.resolve(lease);
    },
  } as unknown as KubeClient;
  let started = 0;
  let stoppedAt = 0;
  const elector = new LeaderElector(client, {
    namespace: 'ns',
    name: 'lease',
    identity: 'me',
    leaseDurationMs: 3000,
    renewDeadlineMs: 600,
    retryPeriodMs: 100,
    onStartedLeading: () => void (started = Date.now()),
    onStoppedLeading: () => void (stoppedAt = Date.now()),
    onError: () => undefined,
  });
  elector.start();
  for (let i = 0; i < 100 && !elector.isLeader; i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(elector.isLeader && started > 0);
  await new Promise((r) => setTimeout(r, 300)); // a few good renewals
  const hungAt = Date.now();
  hang = true;
  // Without the renew deadline the elector waits on the hung call for good; with it, it steps
  // down after ~600 ms: bounds loose enough for 2 busy cores, far below "never".
  for (let i = 0; i < 250 && stoppedAt === 0; i++) await new Promise((r) => setTimeout(r, 20));
  hang = false;
  await elector.stop();
  assert.ok(stoppedAt > 0, 'stepped down');
  assert.ok(stoppedAt - hungAt < 4000, `stepped down ${stoppedAt - hungAt} ms after the hang`);
});
