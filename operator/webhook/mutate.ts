/**
 * The webhook's core: AdmissionReview in, AdmissionReview out, no I/O. Everything the decision
 * depends on outside the request — the namespace's labels, whether the API server has native
 * sidecars, where identities come from — is passed in, so the same function serves the HTTPS
 * server, `sluice inject` and golden-file tests.
 *
 * Phases (vault-k8s/linkerd style): should-inject → settings (config + annotations) →
 * validate → build → patch. A pod is either injected completely or denied; never half.
 */
import {
  Annotations,
  IDENTITY_LABEL,
  NAMESPACE_INJECTION_LABEL,
  SIDECAR_CONTAINER_NAME,
  podSecretName,
} from '../contract.ts';
import { parseAnnotations } from './annotations.ts';
import type { SidecarSettings } from './annotations.ts';
import type { InjectorConfig } from './config.ts';
import { completeEnv, injectEnv } from './env.ts';
import { WebhookError } from './errors.ts';
import type { WebhookErrorCode } from './errors.ts';
import type { IdentitySource } from './identity.ts';
import { PatchBuilder, pointer } from './patch.ts';
import type { PatchOp } from './patch.ts';
import { STATUS_INJECTED, shouldInject } from './should-inject.ts';
import type { SkipReason } from './should-inject.ts';
import { processNamespaceExposure } from './process-namespace.ts';
import { PODINFO_VOLUME, POLICY_VOLUME, buildSidecar } from './sidecar.ts';
import { ADMISSION_API_VERSION } from './types.ts';
import type { AdmissionResponse, AdmissionReview, Pod } from './types.ts';

/** Secret name in offline-injected templates: not a valid Secret name, so it can never exist
 * and a pod that bypassed the webhook fails closed instead of mounting someone's policy. */
export const UNASSIGNED_SECRET_NAME = podSecretName('UNASSIGNED');

const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';

export interface MutationContext {
  config: InjectorConfig;
  /** The API server supports native sidecars (>= 1.29). */
  nativeSidecars: boolean;
  /** Labels of the request's namespace; undefined if not looked up (pod annotation decides). */
  namespaceLabels?: Readonly<Record<string, string>>;
  newIdentity: IdentitySource;
  /**
   * `sluice inject`: inject templates without an identity (assigned per pod at admission);
   * every pod not opted out is injected.
   */
  offline?: boolean;
  /**
   * The pod arrives injected with an identity another pod of its namespace already carries: a
   * copy of an existing pod's manifest (`kubectl get -o yaml` re-applied under a new name, a
   * restore), not a re-invocation (the pod being admitted does not exist yet). It gets a fresh
   * identity, or it would mount the other pod's policy Secret.
   */
  identityInUse?: boolean;
}

/** What happened, for logs and metrics. */
export type Outcome =
  | { result: 'injected'; identity?: string }
  | { result: 'identity-assigned'; identity: string }
  | { result: 'env-completed' }
  | { result: 'skipped'; reason: SkipReason | 'not-a-pod-create' }
  | { result: 'denied'; code: WebhookErrorCode; message: string };

export interface PodMutation {
  outcome: Outcome;
  patch: PatchOp[];
  warnings: string[];
}

export interface MutationResult {
  review: AdmissionReview;
  outcome: Outcome;
}

/**
 * Answers one AdmissionReview v1. The caller has checked it is one (see server.ts); any
 * request that is not a Pod CREATE is allowed unchanged.
 */
export function mutate(review: AdmissionReview, ctx: MutationContext): MutationResult {
  const req = review.request!;
  const isPodCreate =
    req.kind.group === '' && req.kind.kind === 'Pod' && req.operation === 'CREATE' && !req.subResource;
  const m: PodMutation = isPodCreate
    ? mutatePod(req.object as Pod, req.namespace ?? (req.object as Pod)?.metadata?.namespace ?? '', ctx)
    : { outcome: { result: 'skipped', reason: 'not-a-pod-create' }, patch: [], warnings: [] };
  return { review: toReview(req.uid, m), outcome: m.outcome };
}

/** The mutation of one pod (or pod template: metadata + spec) in `namespace`. */
export function mutatePod(pod: Pod, namespace: string, ctx: MutationContext): PodMutation {
  const labels = ctx.offline ? { [NAMESPACE_INJECTION_LABEL]: 'enabled' } : ctx.namespaceLabels;
  const decision = shouldInject(pod, namespace, labels, ctx.config);
  const warnings = [...decision.warnings];
  // Whatever path gives the pod a sidecar (or keeps the one it has): an injected pod that came
  // back with a shared process namespace (another webhook, a hand-made manifest) too.
  if (decision.action !== 'skip' && decision.action !== 'deny') {
    // Native as the pod has its sidecar, else as it would get it.
    const all = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
    const present = all.some((c) => c.name === SIDECAR_CONTAINER_NAME);
    const native = present
      ? (pod.spec?.initContainers ?? []).some((c) => c.name === SIDECAR_CONTAINER_NAME)
      : ctx.nativeSidecars;
    // The opt-out annotation only helps a pod being injected now (one marked injected is
    // injected whatever it says).
    const exposure = processNamespaceExposure(pod, native, decision.action === 'inject');
    if (exposure) return deny('ProcessNamespaceShared', exposure, warnings);
  }
  switch (decision.action) {
    case 'skip':
      return { outcome: { result: 'skipped', reason: decision.reason }, patch: [], warnings };
    case 'deny':
      return deny('HostNetworkRefused', decision.message, warnings);
    case 'complete-identity':
      return ctx.offline ? alreadyInjected(warnings) : completeIdentity(pod, ctx, warnings);
    case 'complete-env':
      if (ctx.offline) return alreadyInjected(warnings);
      if (ctx.identityInUse) {
        warnings.push(
          `identity ${pod.metadata?.labels?.[IDENTITY_LABEL]} is held by another pod (this one is a copy): a fresh one was assigned`,
        );
        return completeIdentity(pod, ctx, warnings);
      }
      return completeEnvOnReinvocation(pod, ctx, warnings);
    case 'inject':
      return inject(pod, ctx, warnings);
  }
}

function inject(pod: Pod, ctx: MutationContext, warnings: string[]): PodMutation {
  const {
    settings,
    problems,
    warnings: annotationWarnings,
  } = parseAnnotations(pod.metadata?.annotations ?? {}, ctx.config);
  warnings.push(...annotationWarnings);
  if (problems.length > 0) return deny('InvalidAnnotation', problems.join('; '), warnings);
  const conflict = nameConflict(pod);
  if (conflict) return deny('NameConflict', conflict, warnings);

  const native = ctx.nativeSidecars;
  const patch = new PatchBuilder();
  const foreign = pod.metadata?.labels?.[IDENTITY_LABEL];
  let identity: string | undefined;
  if (!ctx.offline) identity = ctx.newIdentity();
  if (foreign !== undefined) {
    warnings.push(
      ctx.offline
        ? `label ${IDENTITY_LABEL} removed: identities are assigned per pod at admission`
        : `label ${IDENTITY_LABEL}="${foreign}" replaced: identities are assigned by Sluice, never chosen`,
    );
  }

  warnings.push(...lifecycleWarnings(pod, settings, ctx, native));
  // Env first: its paths index the containers as they are, before the sidecar shifts them.
  warnings.push(...injectEnv(pod, settings, ctx.config, native, patch));

  const sidecar = buildSidecar(
    settings,
    ctx.config,
    identity ? podSecretName(identity) : UNASSIGNED_SECRET_NAME,
    native,
  );
  const list = native ? 'initContainers' : 'containers';
  patch.prepend(pointer('spec', list), pod.spec?.[list], sidecar.container);
  patch.append(pointer('spec', 'volumes'), pod.spec?.volumes, sidecar.volumes);

  if (pod.metadata === undefined) patch.ops.push({ op: 'add', path: '/metadata', value: {} });
  if (identity !== undefined)
    patch.setEntries(pointer('metadata', 'labels'), pod.metadata?.labels, { [IDENTITY_LABEL]: identity });
  else if (foreign !== undefined)
    patch.ops.push({ op: 'remove', path: pointer('metadata', 'labels', IDENTITY_LABEL) });

  const annotations: Record<string, string> = { [Annotations.status]: STATUS_INJECTED };
  const firstApp = pod.spec?.containers?.[0]?.name;
  // Legacy mode puts the sidecar first, where `kubectl logs/exec` would pick it by default.
  if (!native && firstApp && !pod.metadata?.annotations?.[DEFAULT_CONTAINER_ANNOTATION]) {
    annotations[DEFAULT_CONTAINER_ANNOTATION] = firstApp;
  }
  patch.setEntries(pointer('metadata', 'annotations'), pod.metadata?.annotations, annotations);
  return { outcome: { result: 'injected', ...(identity && { identity }) }, patch: patch.ops, warnings };
}

/** An offline-injected pod at admission: give it its identity and point its volume at it. */
function completeIdentity(pod: Pod, ctx: MutationContext, warnings: string[]): PodMutation {
  const volumes = pod.spec?.volumes ?? [];
  const vi = volumes.findIndex((v) => v.name === POLICY_VOLUME && v.secret !== undefined);
  const all = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  if (vi < 0 || !all.some((c) => c.name === SIDECAR_CONTAINER_NAME)) {
    return deny(
      'InconsistentInjection',
      `pod is annotated ${Annotations.status}: ${STATUS_INJECTED} but lacks the ${SIDECAR_CONTAINER_NAME} ` +
        `container or ${POLICY_VOLUME} volume; remove the annotation or re-run sluice inject`,
      warnings,
    );
  }
  const identity = ctx.newIdentity();
  const patch = new PatchBuilder();
  patch.setEntries(pointer('metadata', 'labels'), pod.metadata?.labels, { [IDENTITY_LABEL]: identity });
  patch.replace(pointer('spec', 'volumes', vi, 'secret', 'secretName'), podSecretName(identity));
  return { outcome: { result: 'identity-assigned', identity }, patch: patch.ops, warnings };
}

/**
 * A pod the webhook injected, seen again (reinvocationPolicy IfNeeded) after later webhooks
 * changed it: containers they added get the S3 env, nothing else changes. Nothing to add, or
 * annotations it can no longer read (only a hand-made copy could have them): left as it is.
 */
function completeEnvOnReinvocation(pod: Pod, ctx: MutationContext, warnings: string[]): PodMutation {
  const { settings, problems } = parseAnnotations(pod.metadata?.annotations ?? {}, ctx.config);
  if (problems.length > 0) return alreadyInjected(warnings);
  // Native or not as the pod was injected, whatever the API server says now.
  const native = (pod.spec?.initContainers ?? []).some((c) => c.name === SIDECAR_CONTAINER_NAME);
  const patch = new PatchBuilder();
  const envWarnings = completeEnv(pod, settings, ctx.config, native, patch);
  if (patch.ops.length === 0) return alreadyInjected(warnings);
  return { outcome: { result: 'env-completed' }, patch: patch.ops, warnings: [...warnings, ...envWarnings] };
}

function alreadyInjected(warnings: string[]): PodMutation {
  return { outcome: { result: 'skipped', reason: 'already-injected' }, patch: [], warnings };
}

function nameConflict(pod: Pod): string | undefined {
  const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  if (containers.some((c) => c.name === SIDECAR_CONTAINER_NAME)) {
    return `the pod already has a container named ${SIDECAR_CONTAINER_NAME}`;
  }
  const taken = (pod.spec?.volumes ?? [])
    .map((v) => v.name)
    .filter((n) => n === POLICY_VOLUME || n === PODINFO_VOLUME);
  if (taken.length > 0) return `the pod already has a volume named ${taken.join(', ')}`;
  // The policy volume will hold the store credentials; an app container naming it in a mount
  // would read them once the volume is injected — the very thing the sidecar keeps from apps.
  const reader = containers.find((c) => c.volumeMounts?.some((m) => m.name === POLICY_VOLUME));
  return reader
    ? `container "${reader.name}" mounts volume ${POLICY_VOLUME}, which holds the sidecar's credentials`
    : undefined;
}

function lifecycleWarnings(
  pod: Pod,
  settings: SidecarSettings,
  ctx: MutationContext,
  native: boolean,
): string[] {
  const out: string[] = [];
  for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
    for (const p of c.ports ?? []) {
      if (p.containerPort === settings.proxyPort || p.containerPort === settings.adminPort) {
        out.push(
          `container "${c.name}" uses port ${p.containerPort}, which the Sluice sidecar needs (see ${Annotations.proxyPort})`,
        );
      }
    }
  }
  if (!native) {
    if ((pod.spec?.restartPolicy ?? 'Always') !== 'Always') {
      out.push('non-native sidecar: this run-to-completion pod will not complete while the sidecar runs');
    }
    const grace = pod.spec?.terminationGracePeriodSeconds ?? 30;
    if (grace <= ctx.config.legacyShutdownDelaySeconds) {
      out.push(`terminationGracePeriodSeconds ${grace} leaves the sidecar no time after its shutdown delay`);
    }
  }
  return out;
}

function deny(code: WebhookErrorCode, detail: string, warnings: string[]): PodMutation {
  const message = new WebhookError(code, detail).message;
  return { outcome: { result: 'denied', code, message }, patch: [], warnings };
}

function toReview(uid: string, m: PodMutation): AdmissionReview {
  const warnings = [...new Set(m.warnings)].map((w) => `sluice: ${w}`);
  const response: AdmissionResponse = { uid, allowed: m.outcome.result !== 'denied' };
  if (m.outcome.result === 'denied') {
    const err = new WebhookError(m.outcome.code);
    response.status = { code: err.status, message: `sluice: ${m.outcome.message}`, reason: m.outcome.code };
  }
  if (m.patch.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(m.patch)).toString('base64');
  }
  if (warnings.length > 0) response.warnings = warnings;
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}
