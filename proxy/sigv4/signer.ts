/**
 * Re-signs requests for a backend store with @smithy/signature-v4. One {@link StoreSigner} per
 * (store, credentials generation): a credentials reload makes a new one, while in-flight requests
 * keep the one they started with. @smithy caches the derived signing key per (date, region,
 * service, HMAC(secret, key id), session token) in a module-level LRU, so a request costs one HMAC
 * for that cache key, a SHA-256 of the canonical request and one HMAC for the signature.
 */
import { createHash, createHmac } from 'node:crypto';
import type { Hash, Hmac } from 'node:crypto';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { QueryMap } from '../s3/canonical.ts';

/** A store's credentials, as read from its Secret file. */
export interface StoreCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

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

/** What is signed: headers given here are all signed (pass only host, x-amz-*, content-md5/type). */
export interface SignInput {
  method: string;
  /** Already-encoded path, sent verbatim (S3 signs it without double-encoding). */
  path: string;
  query: QueryMap;
  /** Lower-cased names; must include host and x-amz-content-sha256. */
  headers: Record<string, string>;
}

/** Signs for one store with one credentials generation. */
export class StoreSigner {
  readonly accessKeyId: string;
  private readonly signer: SignatureV4;
  private readonly hostname: string;

  constructor(region: string, creds: StoreCredentials) {
    this.accessKeyId = creds.accessKeyId;
    this.hostname = '';
    this.signer = new SignatureV4({
      credentials: { ...creds },
      region,
      service: 's3',
      sha256: NodeSha256,
      uriEscapePath: false,
      applyChecksum: false,
    });
  }

  /**
   * Returns the headers to add: authorization, x-amz-date and (with a session token)
   * x-amz-security-token. `now` is for tests.
   */
  async sign(input: SignInput, now?: Date): Promise<Record<string, string>> {
    const req = new HttpRequest({
      method: input.method,
      protocol: 'http:',
      hostname: this.hostname,
      path: input.path,
      query: input.query,
      headers: input.headers,
    });
    const signed = await this.signer.sign(req, now ? { signingDate: now } : undefined);
    const h = signed.headers;
    const out: Record<string, string> = { authorization: h.authorization!, 'x-amz-date': h['x-amz-date']! };
    const token = h['x-amz-security-token'];
    if (token !== undefined) out['x-amz-security-token'] = token;
    return out;
  }
}
