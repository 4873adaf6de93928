/**
 * STS AssumeRole (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html) as
 * MinIO implements it (https://min.io/docs/minio/linux/developers/security-token-service/AssumeRole.html):
 * a form POST signed with SigV4 (service "sts") by the store's own keys, limited by a session
 * policy, answering XML. The XML parsing is pure and exported for tests.
 */
import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { HttpRequest } from '@smithy/protocol-http';
import { request } from 'undici';
import type { StoreCredentials } from './credentials.ts';
import { ControllerError } from './errors.ts';

/** Temporary credentials and their lifetime. */
export interface AssumedCredentials extends StoreCredentials {
  sessionToken: string;
  /** Expiration as epoch ms. */
  expiresAt: number;
}

function toBytes(d: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof d === 'string') return d;
  if (d instanceof ArrayBuffer) return new Uint8Array(d);
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** node:crypto SHA-256 / HMAC-SHA-256 in the shape @smithy/signature-v4 wants. */
class Sha256 {
  private readonly h;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', toBytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.h.update(toBytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.h.digest()));
  }
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
function unescapeXml(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10));
    return ENTITIES[e] ?? '';
  });
}
function tag(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml);
  return m ? unescapeXml(m[1] as string).trim() : undefined;
}

/**
 * Parses an AssumeRole answer. A 2xx body must hold Credentials/{AccessKeyId, SecretAccessKey,
 * SessionToken, Expiration}; an ErrorResponse becomes a {@link ControllerError} with the STS code.
 */
export function parseAssumeRoleResponse(status: number, body: string): AssumedCredentials {
  if (status < 200 || status >= 300) {
    const code = tag(body, 'Code') ?? `HTTP${status}`;
    const message = tag(body, 'Message') ?? body.slice(0, 200);
    throw new ControllerError(
      'StsFailed',
      `AssumeRole: ${code}: ${message}`,
      status >= 500 || status === 429,
    );
  }
  const accessKeyId = tag(body, 'AccessKeyId');
  const secretAccessKey = tag(body, 'SecretAccessKey');
  const sessionToken = tag(body, 'SessionToken');
  const expiration = tag(body, 'Expiration');
  const expiresAt = expiration ? Date.parse(expiration) : NaN;
  if (!accessKeyId || !secretAccessKey || !sessionToken || !Number.isFinite(expiresAt)) {
    throw new ControllerError(
      'StsFailed',
      'AssumeRole: answer lacks Credentials (AccessKeyId, SecretAccessKey, SessionToken, Expiration)',
      false,
    );
  }
  return { accessKeyId, secretAccessKey, sessionToken, expiresAt };
}

/** One AssumeRole call. */
export interface AssumeRoleInput {
  /** STS endpoint URL (MinIO: any server URL). */
  endpoint: string;
  region: string;
  /** The store's long-lived keys, which sign the request. */
  credentials: StoreCredentials;
  /** Session policy JSON (already serialised). */
  policy: string;
  durationSeconds: number;
  timeoutMs?: number;
}

/** Calls AssumeRole; throws {@link ControllerError} `StsFailed` (retryable on 5xx/network). */
export async function assumeRole(input: AssumeRoleInput): Promise<AssumedCredentials> {
  const url = new URL(input.endpoint);
  const body = new URLSearchParams({
    Action: 'AssumeRole',
    Version: '2011-06-15',
    DurationSeconds: String(input.durationSeconds),
    Policy: input.policy,
  }).toString();
  const signer = new SignatureV4({
    service: 'sts',
    region: input.region,
    credentials: input.credentials,
    sha256: Sha256,
  });
  const req = new HttpRequest({
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port ? Number(url.port) : undefined,
    method: 'POST',
    path: url.pathname || '/',
    headers: { host: url.host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body,
  });
  const signed = await signer.sign(req);
  let res;
  try {
    res = await request(url, {
      method: 'POST',
      headers: signed.headers,
      body,
      headersTimeout: input.timeoutMs ?? 10_000,
      bodyTimeout: input.timeoutMs ?? 10_000,
    });
  } catch (err) {
    throw new ControllerError('StsFailed', `AssumeRole ${url.origin}: ${(err as Error).message}`, true, err);
  }
  const text = await res.body.text();
  return parseAssumeRoleResponse(res.statusCode, text);
}
