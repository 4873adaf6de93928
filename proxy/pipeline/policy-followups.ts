/**
 * The two decisions whose enforcement needs bytes (see proxy/policy/index.ts):
 * - DeleteObjects: its keys are in the body. After 100 Continue the (small, bounded) body is
 *   read whole, checked, and forwarded unchanged — with its Content-MD5/checksum intact. A body
 *   in aws-chunked framing with a checksum trailer reaches this point already re-framed for the
 *   backend: its payload is decoded once more, checked, and forwarded as a plain body with the
 *   trailer's checksum as a header (upstream.ts withPlainBody).
 * - ListBuckets: the 200 response is buffered (bounded) and filtered to the granted buckets.
 */
import { Readable } from 'node:stream';
import { Errors, ProxyError } from '../errors.ts';
import { filterListBucketsXml, MAX_LIST_BUCKETS_BYTES } from '../policy/list-buckets.ts';
import { AwsChunkedDecoder } from '../sigv4/chunked.ts';
import { withPlainBody } from './upstream.ts';
import { denialError } from './authorize.ts';
import type { RequestContext } from './context.ts';

async function readBounded(body: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      body.destroy();
      throw new ProxyError(Errors.InvalidRequest, 'The DeleteObjects request body is too large.');
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** Room for aws-chunked framing around a payload of `maxBytes`: chunk lines and trailers. */
function framedLimit(maxBytes: number): number {
  return 2 * maxBytes + 64 * 1024;
}

/** Payload and trailers of a re-framed (unsigned, well-formed: our decoder wrote it) aws-chunked body. */
async function decodeFramed(
  framed: Buffer,
  maxBytes: number,
): Promise<{ payload: Buffer; trailers: [string, string][] }> {
  const decoder = new AwsChunkedDecoder({ reframe: false, decodedLength: undefined });
  decoder.end(framed);
  const payload = await readBounded(decoder, maxBytes);
  return { payload, trailers: decoder.trailers };
}

/** True when the decision has a follow-up below (most have none: no promise, no await then). */
export function hasPolicyFollowUps(ctx: RequestContext): boolean {
  const d = ctx.decision!;
  return Boolean(d.listBuckets) || Boolean(d.deleteObjects);
}

/**
 * Applies the decision's follow-ups to ctx. `sendContinue` is called before reading a body.
 * Throws the policy's denial when the DeleteObjects body names a key outside the grants.
 */
export async function applyPolicyFollowUps(ctx: RequestContext, sendContinue: () => void): Promise<void> {
  const d = ctx.decision!;
  if (d.listBuckets) {
    const allowed = d.listBuckets;
    ctx.responseTransform = {
      maxBytes: MAX_LIST_BUCKETS_BYTES,
      transform: (body) => Buffer.from(filterListBucketsXml(body.toString('utf8'), allowed)),
    };
  }
  if (d.deleteObjects) {
    const up = ctx.upstream!;
    const { maxBytes } = d.deleteObjects;
    const framed = ctx.payload?.kind === 'chunked' && ctx.payload.trailer;
    sendContinue();
    const body = up.body
      ? await readBounded(up.body, framed ? framedLimit(maxBytes) : maxBytes)
      : Buffer.alloc(0);
    const decoded = framed ? await decodeFramed(body, maxBytes) : undefined;
    const verdict = d.deleteObjects.check(decoded?.payload ?? body);
    if (!verdict.allow) {
      ctx.policy = `deny:${verdict.reason}`;
      throw denialError(verdict);
    }
    if (decoded) {
      ctx.upstream = withPlainBody(up, decoded.payload, decoded.trailers);
      return;
    }
    up.body = body.length > 0 ? Readable.from([body], { objectMode: false }) : undefined;
    up.releaseBody = false; // a buffer of ours now, not the client's chunks
  }
}
