/**
 * Signer micro-benchmark (not a test): `node bench/proxy/signer.ts [--ms N]`. Signs a typical
 * GET (the hot path's shape: canonical parts built once, one signature per attempt) with
 * proxy/sigv4/signer.ts and with @smithy/signature-v4 (the reference), alternating rounds, and
 * prints ops/s medians. Both produce the same Authorization header (test/unit/proxy/signer.test.ts).
 */
import { sortSignedHeaders } from '../../proxy/sigv4/canonical-request.ts';
import { StoreSigner } from '../../proxy/sigv4/signer.ts';
import { SmithySigner } from '../../proxy/sigv4/smithy-reference.ts';

const argv = process.argv.slice(2);
const MS = Number(argv[argv.indexOf('--ms') + 1]) || 1000;
const ROUNDS = 5;
const creds = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const headers = { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'x-amz-meta-a': 'b' };
const parts = {
  method: 'GET',
  path: '/bucket/some/key.bin',
  query: '',
  ...sortSignedHeaders(headers),
  payloadHash: 'UNSIGNED-PAYLOAD',
};
const input = { method: 'GET', path: parts.path, query: {}, headers: { host: '127.0.0.1:9000', ...headers } };

async function rate(fn: () => unknown): Promise<number> {
  let n = 0;
  const t0 = performance.now();
  const end = t0 + MS;
  while (performance.now() < end) {
    for (let i = 0; i < 256; i++) {
      const r = fn();
      if (r instanceof Promise) await r;
    }
    n += 256;
  }
  return (n / (performance.now() - t0)) * 1000;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const ours = new StoreSigner('us-east-1', creds);
const smithy = new SmithySigner('us-east-1', creds);
const cands: Record<string, () => unknown> = {
  'sluice signParts (hot path)': () => ours.signParts(parts, '127.0.0.1:9000'),
  'sluice sign (general input)': () => ours.sign(input),
  '@smithy/signature-v4': () => smithy.sign(input),
};
const results: Record<string, number[]> = {};
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, fn] of Object.entries(cands)) (results[name] ??= []).push(await rate(fn));
}
const ref = median(results['@smithy/signature-v4']!);
for (const [name, xs] of Object.entries(results)) {
  const m = median(xs);
  process.stdout.write(
    `${name.padEnd(30)} ${m.toFixed(0).padStart(9)} ops/s  ${(m / ref).toFixed(1)}× @smithy\n`,
  );
}
