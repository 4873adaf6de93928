/**
 * The webhook's error catalog. `status` is the HTTP status of the webhook's own reply for
 * transport-level errors, and the AdmissionResponse `status.code` for denials; `source` says
 * who must act (the pod's author, the API server's request, or Sluice itself); `retryable`
 * says whether the same request may succeed later.
 */

export type WebhookErrorSource = 'client' | 'apiserver' | 'internal';

interface Entry {
  status: number;
  source: WebhookErrorSource;
  retryable: boolean;
  message: string;
}

export const WEBHOOK_ERRORS = {
  /** Body is not an admission.k8s.io/v1 AdmissionReview with a request. */
  BadAdmissionReview: {
    status: 400,
    source: 'apiserver',
    retryable: false,
    message: 'not an AdmissionReview v1',
  },
  PayloadTooLarge: {
    status: 413,
    source: 'apiserver',
    retryable: false,
    message: 'AdmissionReview too large',
  },
  NotFound: { status: 404, source: 'apiserver', retryable: false, message: 'no such path; POST /mutate' },
  /** A sidecar annotation holds a value that cannot mean anything. */
  InvalidAnnotation: {
    status: 400,
    source: 'client',
    retryable: false,
    message: 'invalid Sluice annotation',
  },
  HostNetworkRefused: { status: 403, source: 'client', retryable: false, message: 'hostNetwork pod refused' },
  /** A container sharing the sidecar's process namespace could read its credentials. */
  ProcessNamespaceShared: {
    status: 403,
    source: 'client',
    retryable: false,
    message: 'process namespace shared with the sidecar',
  },
  /** The pod already uses a name the sidecar needs (container, volume). */
  NameConflict: { status: 409, source: 'client', retryable: false, message: 'name already used by the pod' },
  /** Marked injected but missing what injection adds (hand-edited or truncated manifest). */
  InconsistentInjection: {
    status: 400,
    source: 'client',
    retryable: false,
    message: 'inconsistent injection',
  },
  /** The namespace's labels could not be read, so the decision cannot be made safely. */
  NamespaceLookupFailed: {
    status: 500,
    source: 'internal',
    retryable: true,
    message: 'namespace lookup failed',
  },
  /** Whether another pod holds the identity a pod arrives with could not be read. */
  PodLookupFailed: {
    status: 500,
    source: 'internal',
    retryable: true,
    message: 'pod lookup failed',
  },
  Internal: { status: 500, source: 'internal', retryable: true, message: 'internal error' },
} as const satisfies Record<string, Entry>;

export type WebhookErrorCode = keyof typeof WEBHOOK_ERRORS;

/** An error from the catalog, with a detail message for the human who reads the denial. */
export class WebhookError extends Error {
  readonly code: WebhookErrorCode;
  readonly status: number;
  readonly source: WebhookErrorSource;
  readonly retryable: boolean;

  constructor(code: WebhookErrorCode, detail?: string, options?: { cause?: unknown }) {
    const entry = WEBHOOK_ERRORS[code];
    super(detail ? `${entry.message}: ${detail}` : entry.message, options);
    this.name = 'WebhookError';
    this.code = code;
    this.status = entry.status;
    this.source = entry.source;
    this.retryable = entry.retryable;
  }
}
