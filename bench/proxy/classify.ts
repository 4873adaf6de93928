/**
 * The S3 operation classifier alone (not a test): `node bench/proxy/classify.ts`. It runs on every
 * request (proxy/policy/operations.ts classify): a GetObject, an UploadPart and a ListObjectsV2 in
 * turn, ns per call, three timed passes after two warm-ups.
 */
import { classify } from '../../proxy/policy/operations.ts';
import type { ClassifyInput } from '../../proxy/policy/operations.ts';

const INPUTS: ClassifyInput[] = [
  {
    method: 'GET',
    bucket: 'bench',
    key: 'obj-4096',
    query: new URLSearchParams(''),
    headers: {
      host: '127.0.0.1:7480',
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      'x-amz-date': '20261202T000000Z',
      authorization:
        'AWS4-HMAC-SHA256 Credential=a/20261202/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00',
      'user-agent': 'aws-sdk-js/3',
      'amz-sdk-invocation-id': 'x',
      'amz-sdk-request': 'attempt=1; max=3',
    },
  },
  {
    method: 'PUT',
    bucket: 'bench',
    key: 'obj-4096',
    query: new URLSearchParams('partNumber=1&uploadId=abc'),
    headers: { host: '127.0.0.1:7480', 'content-length': '4096', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
  },
  {
    method: 'GET',
    bucket: 'bench',
    key: undefined,
    query: new URLSearchParams('list-type=2&prefix=a'),
    headers: { host: '127.0.0.1:7480' },
  },
];
const CALLS = 300_000;
let allowed = 0;
for (let pass = 0; pass < 5; pass++) {
  const t0 = performance.now();
  for (let i = 0; i < CALLS; i++) if (classify(INPUTS[i % INPUTS.length]!).ok) allowed++;
  const ns = ((performance.now() - t0) * 1e6) / CALLS;
  if (pass >= 2) process.stdout.write(`classify: ${ns.toFixed(0)} ns per call\n`);
}
if (allowed !== 5 * CALLS) throw new Error(`expected every call to classify, ${allowed} did`);
