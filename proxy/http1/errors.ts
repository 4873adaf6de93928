/** Errors of the backend HTTP/1.1 client, each with a stable `code` for classification. */

export type UpstreamErrorCode =
  /** The TCP (or TLS) connection was not up within the connect timeout. */
  | 'CONNECT_TIMEOUT'
  /** No complete response head within the first-byte timeout after the request was sent. */
  | 'HEADERS_TIMEOUT'
  /** Every connection of the pool stayed busy for the first-byte timeout: nothing was sent. */
  | 'QUEUE_TIMEOUT'
  /** The response body, or the backend's reading of the request body, stalled. */
  | 'BODY_TIMEOUT'
  /** The request body had more or fewer bytes than its Content-Length. */
  | 'CONTENT_LENGTH_MISMATCH'
  /** The request body stream failed or ended early (`cause` has the stream's error, if any). */
  | 'REQUEST_BODY'
  /** The backend closed the connection before the response was complete. */
  | 'SOCKET_CLOSED'
  /** The backend's bytes are not a valid HTTP/1.1 response. */
  | 'PROTOCOL'
  /** The response head is larger than the client accepts. */
  | 'HEADERS_OVERFLOW'
  /** The pool was closed or destroyed. */
  | 'POOL_CLOSED';

export class UpstreamError extends Error {
  readonly code: UpstreamErrorCode;

  constructor(code: UpstreamErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UpstreamError';
    this.code = code;
  }
}
