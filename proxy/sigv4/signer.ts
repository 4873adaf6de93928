/**
 * Re-signs requests for a backend store: AWS SigV4 header signing
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html), synchronous and
 * built for the request path. One {@link StoreSigner} per (store, credentials generation): a
 * credentials reload makes a new one, while in-flight requests keep the one they started with.
 *
 * Per request it costs three one-shot SHA-256s (node:crypto `hash`): one of the canonical request
 * and two for the HMAC of the string to sign, written out as its definition, with the day's
 * signing key (four chained HMACs, derived once per UTC day) pre-XORed into its two 64-byte
 * blocks. The canonical request and the inner block are written into one scratch buffer rather
 * than built as strings. createHmac makes a stream object and a native handle per call (with a
 * raw Buffer key it also re-validates and wraps the key: ~8× dearer than with a KeyObject); the
 * one-shot hashes make neither (bench/proxy/signer.ts: 2.4–2.5 µs per signature, 3.4–4.1 with
 * a KeyObject HMAC and string building). @smithy's signer, the reference (smithy-reference.ts;
 * unit tests compare the two byte for byte), also spends an extra HMAC per request on its
 * signing-key cache key, goes through promises, and sorts and re-encodes what the parse phase
 * already had canonical.
 */
import { createHmac, hash } from 'node:crypto';
import { canonicalQuery } from '../s3/canonical.ts';
import type { QueryMap } from '../s3/canonical.ts';
import { canonicalHeaderValue, sortSignedHeaders } from './canonical-request.ts';
import type { CanonicalParts } from './canonical-request.ts';
import { EMPTY_SHA256 } from './payload.ts';

/** A store's credentials, as read from its Secret file. */
export interface StoreCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** What one signature adds to a request. */
export interface Signature {
  authorization: string;
  /** x-amz-date, YYYYMMDD'T'HHMMSS'Z'. */
  amzDate: string;
  /** x-amz-security-token to send, undefined without a session token. */
  securityToken: string | undefined;
}

/** A general request to sign (tests, benchmarks, tools): see {@link StoreSigner.sign}. */
export interface SignInput {
  method: string;
  /** Already-encoded path, sent verbatim (S3 signs it without double-encoding). */
  path: string;
  /** Must not hold presign parameters (client-auth.ts strips them). */
  query: QueryMap;
  /** Lower-cased names, all signed; must include host (x-amz-content-sha256 defaults to the empty body's hash). */
  headers: Record<string, string>;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';

// x-amz-date changes once a second: format it once a second, not once a request.
let clockSecond = Number.NaN;
let clockAmzDate = '';

/** x-amz-date for `ms` since the epoch, e.g. 20260102T030405Z. */
export function amzDate(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s !== clockSecond) {
    clockSecond = s;
    clockAmzDate = new Date(s * 1000).toISOString().replace(/[-:]|\.\d{3}/g, '');
  }
  return clockAmzDate;
}

const NL = 0x0a;
const COLON = 0x3a;

// One canonical request at a time is hashed (signParts is synchronous): one buffer for all.
let scratch = Buffer.allocUnsafeSlow(8 * 1024);

/** The scratch buffer, at least `bytes` long. */
function scratchFor(bytes: number): Buffer {
  if (scratch.length < bytes) scratch = Buffer.allocUnsafeSlow(bytes);
  return scratch;
}

/** Signs for one store with one credentials generation. */
export class StoreSigner {
  readonly accessKeyId: string;
  private readonly secretAccessKey: string;
  private readonly securityToken: string | undefined;
  private readonly region: string;
  private readonly service: string;
  // Per UTC day: the derived key, the credential scope and the Authorization prefix.
  private keyDate = '';
  /** The day's signing key k ^ ipad, zero-padded to SHA-256's 64-byte block. */
  private readonly innerPad = Buffer.alloc(64);
  /** k ^ opad, then the inner hash: the outer block of the HMAC, hashed as is. */
  private readonly outerBlock = Buffer.alloc(96);
  private scope = '';
  private authPrefix = '';

  constructor(region: string, creds: StoreCredentials, service = 's3') {
    this.accessKeyId = creds.accessKeyId;
    this.secretAccessKey = creds.secretAccessKey;
    this.securityToken = creds.sessionToken ? canonicalHeaderValue(creds.sessionToken) : undefined;
    this.region = region;
    this.service = service;
  }

  private derive(shortDate: string): void {
    let k = createHmac('sha256', `AWS4${this.secretAccessKey}`).update(shortDate).digest();
    for (const part of [this.region, this.service, 'aws4_request']) {
      k = createHmac('sha256', k).update(part).digest();
    }
    // HMAC-SHA256(k, m) = SHA256((k ^ opad) || SHA256((k ^ ipad) || m)), k zero-padded to 64 bytes.
    this.innerPad.fill(0x36);
    this.outerBlock.fill(0x5c, 0, 64);
    for (let i = 0; i < k.length; i++) {
      this.innerPad[i]! ^= k[i]!;
      this.outerBlock[i]! ^= k[i]!;
    }
    this.scope = `${shortDate}/${this.region}/${this.service}/aws4_request`;
    this.authPrefix = `${ALGORITHM} Credential=${this.accessKeyId}/${this.scope}, SignedHeaders=`;
    this.keyDate = shortDate;
  }

  /**
   * Signs `parts` for `host` at `nowMs`: the hot path. host, x-amz-date and (with a session
   * token) x-amz-security-token are merged into the already-sorted signed headers; the caller
   * sends them with the returned values.
   */
  signParts(parts: CanonicalParts, host: string, nowMs: number = Date.now()): Signature {
    const date = amzDate(nowMs);
    const shortDate = date.slice(0, 8);
    if (shortDate !== this.keyDate) this.derive(shortDate);
    const names = parts.headerNames;
    const values = parts.headerValues;
    // The canonical request straight into the scratch buffer: no string to build and flatten
    // first. Sized for 3 bytes per character.
    let chars = parts.method.length + parts.path.length + parts.query.length + parts.payloadHash.length;
    chars += host.length + (this.securityToken?.length ?? 0) + this.scope.length + 256; // own names, date, the string to sign
    for (let k = 0; k < names.length; k++) chars += 2 * names[k]!.length + values[k]!.length + 3;
    const buf = scratchFor(3 * chars);
    let n = buf.write(parts.method, 0, 'utf8');
    buf[n++] = NL;
    n += buf.write(parts.path, n, 'utf8');
    buf[n++] = NL;
    n += buf.write(parts.query, n, 'utf8');
    buf[n++] = NL;
    // The signer's own headers, in sorted order: host < x-amz-date < x-amz-security-token.
    const ownCount = this.securityToken === undefined ? 2 : 3;
    let signed = '';
    let i = 0;
    let j = 0;
    while (i < names.length || j < ownCount) {
      let name: string;
      let value: string;
      const own = j === 0 ? 'host' : j === 1 ? 'x-amz-date' : 'x-amz-security-token';
      if (j < ownCount && (i === names.length || own < names[i]!)) {
        name = own;
        value = j === 0 ? host : j === 1 ? date : this.securityToken!;
        j++;
      } else {
        name = names[i]!;
        value = values[i]!;
        i++;
      }
      // Header values are latin1 strings (Node's parser maps each byte to one character) and
      // go out as latin1: a backend hashes the bytes on the wire, so the signature must too. As
      // UTF-8, a byte ≥ 0x80 (x-amz-meta-* values in UTF-8) became two, and signatures failed.
      n += buf.write(name, n, 'latin1');
      buf[n++] = COLON;
      n += buf.write(value, n, 'latin1');
      buf[n++] = NL;
      signed = signed === '' ? name : `${signed};${name}`;
    }
    buf[n++] = NL;
    n += buf.write(signed, n, 'utf8');
    buf[n++] = NL;
    n += buf.write(parts.payloadHash, n, 'utf8');
    const canonicalHash = hash('sha256', buf.subarray(0, n), 'hex');
    // The HMAC's inner block, (k ^ ipad) || string to sign, and then its outer one.
    buf.set(this.innerPad, 0);
    n = 64 + buf.write(`${ALGORITHM}\n${date}\n${this.scope}\n${canonicalHash}`, 64, 'utf8');
    this.outerBlock.write(hash('sha256', buf.subarray(0, n), 'binary'), 64, 'latin1');
    const signature = hash('sha256', this.outerBlock, 'hex');
    return {
      authorization: `${this.authPrefix}${signed}, Signature=${signature}`,
      amzDate: date,
      securityToken: this.securityToken,
    };
  }

  /**
   * Signs a general request (sorting its headers and query here: not for the hot path). Returns
   * the headers to add: authorization, x-amz-date and (with a session token) x-amz-security-token.
   */
  sign(input: SignInput, now?: Date): Record<string, string> {
    const { host, ...rest } = input.headers;
    if (host === undefined) throw new Error('SignInput.headers must include host');
    const parts: CanonicalParts = {
      method: input.method,
      path: input.path,
      query: canonicalQuery(input.query),
      ...sortSignedHeaders(rest),
      payloadHash: input.headers['x-amz-content-sha256'] ?? EMPTY_SHA256,
    };
    const s = this.signParts(parts, canonicalHeaderValue(host), now ? now.getTime() : Date.now());
    const out: Record<string, string> = { authorization: s.authorization, 'x-amz-date': s.amzDate };
    if (s.securityToken !== undefined) out['x-amz-security-token'] = s.securityToken;
    return out;
  }
}
