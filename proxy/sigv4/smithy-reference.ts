/**
 * The reference signer: @smithy/signature-v4, the AWS SDK's own, behind the same input shape as
 * {@link StoreSigner.sign}. The request path does not use it (signer.ts is synchronous and
 * caches its signing key); unit tests hold signer.ts to it byte for byte, and
 * bench/proxy/signer.ts measures the two side by side. Never import it from the request path:
 * it would load @smithy into every sidecar.
 */
import { createHash, createHmac } from 'node:crypto';
import type { Hash, Hmac } from 'node:crypto';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { SignInput, StoreCredentials } from './signer.ts';

type SourceData = string | ArrayBuffer | ArrayBufferView;

function toBuffer(data: SourceData): Buffer | string {
  if (typeof data === 'string') return data;
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/** node:crypto behind the @smithy Checksum interface (SHA-256, or HMAC-SHA256 with a secret). */
export class NodeSha256 {
  private h: Hash | Hmac;
  private readonly secret: SourceData | undefined;
  constructor(secret?: SourceData) {
    this.secret = secret;
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(secret));
  }
  update(data: Uint8Array | string): void {
    this.h.update(data);
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.h.digest());
  }
  reset(): void {
    this.h = this.secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(this.secret));
  }
}

/** @smithy/signature-v4 for one store and one credentials generation. */
export class SmithySigner {
  private readonly signer: SignatureV4;

  constructor(region: string, creds: StoreCredentials) {
    this.signer = new SignatureV4({
      credentials: { ...creds },
      region,
      service: 's3',
      sha256: NodeSha256,
      uriEscapePath: false,
      applyChecksum: false,
    });
  }

  /** The headers @smithy adds: authorization, x-amz-date, x-amz-security-token (with a token). */
  async sign(input: SignInput, now?: Date): Promise<Record<string, string>> {
    const req = new HttpRequest({
      method: input.method,
      protocol: 'http:',
      hostname: '',
      path: input.path,
      query: input.query,
      headers: { ...input.headers },
    });
    const signed = await this.signer.sign(req, now ? { signingDate: now } : undefined);
    const h = signed.headers;
    const out: Record<string, string> = { authorization: h.authorization!, 'x-amz-date': h['x-amz-date']! };
    const token = h['x-amz-security-token'];
    if (token !== undefined) out['x-amz-security-token'] = token;
    return out;
  }
}
