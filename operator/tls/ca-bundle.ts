/**
 * Keeps the MutatingWebhookConfiguration's `caBundle` equal to the CA the replicas serve with.
 * The chart creates the configuration with an empty caBundle (and `helm upgrade` may reset it),
 * so this runs at start and on every refresh, writing only on a diff. The JSON patch starts
 * with a `test` of the resourceVersion it read, so a concurrent writer makes it fail (422)
 * instead of being overwritten; the next refresh re-reads.
 */
import type { AdmissionregistrationV1Api } from '@kubernetes/client-node';
import { pointer } from '../webhook/patch.ts';
import type { PatchOp } from '../webhook/patch.ts';
import { statusOf } from './secret.ts';

export type CaBundleSync = 'unchanged' | 'patched' | 'missing' | 'conflict';

/** Sets every webhook's clientConfig.caBundle in configuration `name` to `caPem`. */
export async function syncCaBundle(
  api: AdmissionregistrationV1Api,
  name: string,
  caPem: string,
): Promise<CaBundleSync> {
  let config;
  try {
    config = await api.readMutatingWebhookConfiguration({ name });
  } catch (err) {
    if (statusOf(err) === 404) return 'missing';
    throw err;
  }
  const want = Buffer.from(caPem, 'utf8').toString('base64');
  const ops: PatchOp[] = [];
  (config.webhooks ?? []).forEach((w, i) => {
    if (w.clientConfig.caBundle === want) return;
    const op = w.clientConfig.caBundle === undefined ? 'add' : 'replace';
    ops.push({ op, path: pointer('webhooks', i, 'clientConfig', 'caBundle'), value: want });
  });
  if (ops.length === 0) return 'unchanged';
  const test: PatchOp = {
    op: 'test',
    path: '/metadata/resourceVersion',
    value: config.metadata?.resourceVersion,
  };
  try {
    await api.patchMutatingWebhookConfiguration({ name, body: [test, ...ops] });
    return 'patched';
  } catch (err) {
    if (statusOf(err) === 422 || statusOf(err) === 409) return 'conflict';
    throw err;
  }
}
