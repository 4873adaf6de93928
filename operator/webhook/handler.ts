/**
 * The thin HTTP layer around mutate(): read and check the AdmissionReview, look up the
 * namespace's labels when the pod leaves the decision to its namespace, call mutate(), log,
 * count, answer. Transport errors get an HTTP error (the API server then applies the webhook's
 * failurePolicy); decisions — including denials — are 200 with an AdmissionReview.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { Annotations, IDENTITY_LABEL, WEBHOOK_PATH } from '../contract.ts';
import type { InjectorConfig } from './config.ts';
import { WebhookError } from './errors.ts';
import type { IdentitySource } from './identity.ts';
import type { WebhookMetrics } from './metrics.ts';
import { mutate } from './mutate.ts';
import type { Outcome } from './mutate.ts';
import type { IdentityInUse, NamespaceLabelLookup } from './namespaces.ts';
import { STATUS_INJECTED } from './should-inject.ts';
import { needsNamespaceLabels } from './should-inject.ts';
import { ADMISSION_API_VERSION } from './types.ts';
import type { AdmissionReview, Pod } from './types.ts';

/** Largest AdmissionReview accepted; a Pod is bounded by etcd's 1.5 MiB request limit. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface HandlerDeps {
  config: InjectorConfig;
  nativeSidecars: () => boolean;
  ready: () => boolean;
  namespaceLabels: NamespaceLabelLookup;
  /** Whether a pod of the namespace already carries an identity (copied pods get a fresh one). */
  identityInUse: IdentityInUse;
  newIdentity: IdentitySource;
  metrics: WebhookMetrics;
  logger: Logger;
}

/** The request listener: POST /mutate, GET /healthz, GET /readyz. */
export function createAdmissionHandler(
  deps: HandlerDeps,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && (path === '/healthz' || path === '/readyz')) {
      const ok = path === '/healthz' || deps.ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not ready\n');
      return;
    }
    if (req.method !== 'POST' || path !== WEBHOOK_PATH) {
      sendError(res, new WebhookError('NotFound', `${req.method} ${path}`));
      return;
    }
    const started = process.hrtime.bigint();
    handleAdmission(req, deps).then(
      ({ review, outcome, subject }) => {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        record(deps, review, outcome, subject, seconds);
        const body = JSON.stringify(review);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      },
      (err: unknown) => {
        const e =
          err instanceof WebhookError ? err : new WebhookError('Internal', String(err), { cause: err });
        deps.metrics.admissionsTotal.inc({ result: 'error', reason: e.code });
        deps.logger.warn({ err: e, code: e.code }, 'admission failed');
        sendError(res, e);
      },
    );
  };
}

async function handleAdmission(
  req: IncomingMessage,
  deps: HandlerDeps,
): Promise<{ review: AdmissionReview; outcome: Outcome; subject: string }> {
  const review = parseReview(await readBody(req));
  const request = review.request!;
  const pod = request.object as Pod | undefined;
  const namespace = request.namespace ?? pod?.metadata?.namespace ?? '';
  let namespaceLabels: Readonly<Record<string, string>> | undefined;
  if (request.kind.kind === 'Pod' && pod && needsNamespaceLabels(pod) && namespace !== '') {
    try {
      namespaceLabels = await deps.namespaceLabels(namespace);
    } catch (err) {
      // Unknown labels mean an unknown decision: fail the call and let failurePolicy decide.
      throw new WebhookError('NamespaceLookupFailed', `namespace ${namespace}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  // A pod that arrives injected, with an identity: a re-invocation, or a copy of a pod that
  // exists (which must not share its policy Secret). Only the API can tell.
  let identityInUse = false;
  const identity = pod?.metadata?.labels?.[IDENTITY_LABEL];
  const arrivesInjected = pod?.metadata?.annotations?.[Annotations.status] === STATUS_INJECTED;
  if (
    request.kind.kind === 'Pod' &&
    request.operation === 'CREATE' &&
    identity &&
    arrivesInjected &&
    namespace
  ) {
    try {
      identityInUse = await deps.identityInUse(namespace, identity);
    } catch (err) {
      throw new WebhookError('PodLookupFailed', `pods of ${namespace}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  const result = mutate(review, {
    config: deps.config,
    nativeSidecars: deps.nativeSidecars(),
    ...(namespaceLabels && { namespaceLabels }),
    newIdentity: deps.newIdentity,
    identityInUse,
  });
  const name = pod?.metadata?.name ?? request.name ?? `${pod?.metadata?.generateName ?? ''}*`;
  return { ...result, subject: `${namespace}/${name}` };
}

/** Checks the body is an admission.k8s.io/v1 AdmissionReview with a request; v1beta1 is refused. */
export function parseReview(body: Buffer): AdmissionReview {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new WebhookError('BadAdmissionReview', 'body is not JSON');
  }
  const r = value as Partial<AdmissionReview> | null;
  if (r?.apiVersion !== ADMISSION_API_VERSION || r.kind !== 'AdmissionReview') {
    throw new WebhookError(
      'BadAdmissionReview',
      `got ${String(r?.apiVersion)} ${String(r?.kind)}; register with admissionReviewVersions: ["v1"]`,
    );
  }
  const q = r.request;
  if (typeof q?.uid !== 'string' || typeof q.kind?.kind !== 'string' || typeof q.operation !== 'string') {
    throw new WebhookError(
      'BadAdmissionReview',
      'request.uid, request.kind and request.operation are required',
    );
  }
  return r as AdmissionReview;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) throw new WebhookError('PayloadTooLarge', `${declared} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new WebhookError('PayloadTooLarge', `over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function record(
  deps: HandlerDeps,
  review: AdmissionReview,
  outcome: Outcome,
  pod: string,
  seconds: number,
): void {
  const reason =
    outcome.result === 'skipped' ? outcome.reason : outcome.result === 'denied' ? outcome.code : '';
  deps.metrics.admissionsTotal.inc({ result: outcome.result, reason });
  deps.metrics.admissionDuration.observe({ result: outcome.result }, seconds);
  const warnings = review.response?.warnings ?? [];
  if (warnings.length > 0) deps.metrics.warningsTotal.inc(warnings.length);
  // Skips are the common case in an enabled namespace's noise; decisions that change a pod are info.
  deps.logger[outcome.result === 'skipped' ? 'debug' : 'info'](
    {
      uid: review.response?.uid,
      pod,
      ...outcome,
      warnings: warnings.length > 0 ? warnings : undefined,
      ms: seconds * 1e3,
    },
    'admission',
  );
}

/** A metav1.Status body, which the API server quotes in its error message. */
function sendError(res: ServerResponse, err: WebhookError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    status: 'Failure',
    code: err.status,
    reason: err.code,
    message: `sluice: ${err.message}`,
  });
  res.writeHead(err.status, { 'content-type': 'application/json', connection: 'close' }).end(body);
}
