/**
 * The proxy's one error catalog. Every error the proxy itself answers with (never a backend's: those
 * pass through untouched) is an entry here: S3 error code, HTTP status, where the fault lies and
 * whether a client may retry. Rendered as the S3 XML error document
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).
 */

/** Whose fault: the client (downstream), the backend store (upstream), or the proxy (internal). */
export type ErrorSource = 'downstream' | 'upstream' | 'internal';

/** One catalog entry. */
export interface ErrorSpec {
  readonly code: string;
  readonly status: number;
  readonly source: ErrorSource;
  readonly retryable: boolean;
  readonly message: string;
}

function spec(
  code: string,
  status: number,
  source: ErrorSource,
  retryable: boolean,
  message: string,
): ErrorSpec {
  return { code, status, source, retryable, message };
}

/** The catalog. Codes are S3's own where S3 has one, so SDK retry logic applies unchanged. */
export const Errors = {
  AccessDenied: spec('AccessDenied', 403, 'downstream', false, 'Access Denied.'),
  InvalidRequest: spec('InvalidRequest', 400, 'downstream', false, 'Invalid Request.'),
  InvalidArgument: spec('InvalidArgument', 400, 'downstream', false, 'Invalid Argument.'),
  InvalidURI: spec('InvalidURI', 400, 'downstream', false, "Couldn't parse the specified URI."),
  InvalidBucketName: spec(
    'InvalidBucketName',
    400,
    'downstream',
    false,
    'The specified bucket is not valid.',
  ),
  BadRequest: spec('BadRequest', 400, 'downstream', false, 'Malformed HTTP request.'),
  ExpectationFailed: spec(
    'ExpectationFailed',
    417,
    'downstream',
    false,
    'The request carries an expectation the proxy cannot meet.',
  ),
  RequestHeaderSectionTooLarge: spec(
    'RequestHeaderSectionTooLarge',
    400,
    'downstream',
    false,
    'Your request header section exceeds the maximum allowed size.',
  ),
  IncompleteBody: spec(
    'IncompleteBody',
    400,
    'downstream',
    false,
    'You did not provide the number of bytes specified by the Content-Length HTTP header.',
  ),
  MalformedChunkedEncoding: spec(
    'InvalidChunkSizeError',
    400,
    'downstream',
    false,
    'The aws-chunked request body is malformed.',
  ),
  MissingContentLength: spec(
    'MissingContentLength',
    411,
    'downstream',
    false,
    'You must provide the Content-Length or x-amz-decoded-content-length HTTP header.',
  ),
  NotImplemented: spec(
    'NotImplemented',
    501,
    'downstream',
    false,
    'A header you provided implies functionality that is not implemented.',
  ),
  RequestTimeout: spec(
    'RequestTimeout',
    400,
    'downstream',
    true,
    'Your socket connection to the server was not read from or written to within the timeout period.',
  ),
  SlowDown: spec('SlowDown', 503, 'internal', true, 'Please reduce your request rate.'),
  ServiceUnavailable: spec('ServiceUnavailable', 503, 'upstream', true, 'The backend store is unavailable.'),
  BackendTimeout: spec(
    'ServiceUnavailable',
    503,
    'upstream',
    true,
    'The backend store did not answer in time.',
  ),
  InternalError: spec(
    'InternalError',
    500,
    'internal',
    true,
    'We encountered an internal error. Please try again.',
  ),
} as const satisfies Record<string, ErrorSpec>;

/** An error the proxy answers with itself. `detail` replaces the catalog message when given. */
export class ProxyError extends Error {
  readonly spec: ErrorSpec;
  constructor(spec: ErrorSpec, detail?: string, options?: { cause?: unknown }) {
    super(detail ?? spec.message, options);
    this.name = 'ProxyError';
    this.spec = spec;
  }
}

/** Maps anything thrown on the request path to a ProxyError (unknown errors become InternalError). */
export function toProxyError(err: unknown): ProxyError {
  if (err instanceof ProxyError) return err;
  return new ProxyError(Errors.InternalError, undefined, { cause: err });
}

const XML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};

// eslint-disable-next-line no-control-regex
const XML_UNSAFE = /[&<>"'\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/g;

/**
 * Escapes text for an XML element body. Characters XML 1.0 cannot carry at all, even as
 * references (C0 controls but tab and line ends, U+FFFE, U+FFFF — a key may hold them), are
 * percent-encoded as in a URI: a raw one makes every XML parser refuse the whole error document.
 */
export function xmlEscape(s: string): string {
  return s.replace(XML_UNSAFE, (c) => XML_ESCAPES[c] ?? encodeURIComponent(c));
}

/** Renders the S3 XML error document. `resource` is the request path (never the query string). */
export function renderS3Error(err: ProxyError, requestId: string, resource: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error>' +
    `<Code>${xmlEscape(err.spec.code)}</Code>` +
    `<Message>${xmlEscape(err.message)}</Message>` +
    `<Resource>${xmlEscape(resource)}</Resource>` +
    `<RequestId>${xmlEscape(requestId)}</RequestId>` +
    '</Error>'
  );
}
