/**
 * Payload modes: what the client's `x-amz-content-sha256` says about its body, and what the
 * proxy sends to the backend instead
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html).
 *
 * - a hex SHA-256 is reused as-is: the backend still verifies the body's integrity;
 * - UNSIGNED-PAYLOAD, or no header (SigV2, anonymous, presigned): forwarded UNSIGNED-PAYLOAD;
 * - aws-chunked (STREAMING-…): always decoded by the proxy (chunk signatures made with the
 *   client's keys are meaningless to the backend). Without trailers the raw bytes go on as
 *   UNSIGNED-PAYLOAD with Content-Length = x-amz-decoded-content-length; with trailers the
 *   backend gets STREAMING-UNSIGNED-PAYLOAD-TRAILER so the x-amz-checksum-* trailer still
 *   reaches it, and it verifies it: a client body in that mode already (the AWS SDKs' default
 *   over http) goes on verbatim, its framing checked on the way; a signed one (or one
 *   sent chunked) is re-framed without its signatures, in fixed chunks so it has a
 *   Content-Length (sigv4/chunked.ts, planReframe). Re-signing every chunk instead would cost a SHA-256 over every
 *   body byte for no integrity the checksum trailer does not already give.
 */
import { Errors, ProxyError } from '../errors.ts';

/** How the client framed and hashed its body. */
export type PayloadMode =
  | { kind: 'sha256'; hash: string }
  | { kind: 'unsigned' }
  | { kind: 'chunked'; signed: boolean; trailer: boolean };

/** The value the backend sees for unsigned bodies. */
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
/** The value the backend sees for re-framed bodies with trailers. */
export const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
/** SHA-256 of the empty string: bodiless requests sign this, as SDKs do. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const HEX64 = /^[0-9a-f]{64}$/;

/** Classifies an `x-amz-content-sha256` value; throws InvalidArgument on an unknown one. */
export function payloadMode(header: string | undefined): PayloadMode {
  if (header === undefined || header === UNSIGNED_PAYLOAD) return { kind: 'unsigned' };
  const h = header.toLowerCase();
  if (HEX64.test(h)) return { kind: 'sha256', hash: h };
  switch (header) {
    case 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD':
    case 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD':
      return { kind: 'chunked', signed: true, trailer: false };
    case 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER':
    case 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER':
      return { kind: 'chunked', signed: true, trailer: true };
    case STREAMING_UNSIGNED_TRAILER:
      return { kind: 'chunked', signed: false, trailer: true };
    default:
      throw new ProxyError(Errors.InvalidArgument, 'Unsupported x-amz-content-sha256 value.');
  }
}
