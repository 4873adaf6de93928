/**
 * Who is injected, as a pure decision with a reason for every "no" (logged and counted by the
 * server). The order matters and is the contract:
 *   1. never the operator's namespace, nor the excluded (system) namespaces;
 *   2. a pod the webhook already finished (status "injected" + identity label) only gets the S3
 *      env into containers that lack it — containers a later webhook added, which is why the
 *      webhook asks for `reinvocationPolicy: IfNeeded`; with nothing new it is left alone, so
 *      re-invocations and re-applies are safe;
 *   3. a pod injected offline by `sluice inject` (status "injected", no identity yet) only gets
 *      its identity — identities are per pod, so manifests never carry one;
 *   4. `sluice.dev/inject: "false"` opts out, "true" opts in, anything else warns and is ignored;
 *   5. otherwise the namespace label `sluice.dev/injection: enabled` decides;
 *   6. hostNetwork pods are refused or skipped per config (their 127.0.0.1 is the node's), also
 *      ones that arrive marked as injected (2 and 3).
 */
import { Annotations, IDENTITY_LABEL, NAMESPACE_INJECTION_LABEL } from '../contract.ts';
import type { InjectorConfig } from './config.ts';
import type { Pod } from './types.ts';

export const STATUS_INJECTED = 'injected';

export type SkipReason =
  | 'operator-namespace'
  | 'excluded-namespace'
  | 'already-injected'
  | 'opted-out'
  | 'not-enabled'
  | 'host-network';

export type Decision =
  | { action: 'inject'; warnings: string[] }
  | { action: 'complete-identity'; warnings: string[] }
  | { action: 'complete-env'; warnings: string[] }
  | { action: 'skip'; reason: SkipReason; message: string; warnings: string[] }
  | { action: 'deny'; reason: 'host-network'; message: string; warnings: string[] };

/**
 * True when the pod's own annotation does not settle the question, so the namespace's labels
 * are needed; lets the server skip the namespace lookup for explicit pods.
 */
export function needsNamespaceLabels(pod: Pod): boolean {
  const v = pod.metadata?.annotations?.[Annotations.inject];
  return v !== 'true' && v !== 'false';
}

/**
 * Decides for one pod being created in `namespace`. `namespaceLabels` may be undefined only
 * when {@link needsNamespaceLabels} is false; an unknown namespace counts as not enabled.
 */
export function shouldInject(
  pod: Pod,
  namespace: string,
  namespaceLabels: Readonly<Record<string, string>> | undefined,
  config: InjectorConfig,
): Decision {
  const warnings: string[] = [];
  const annotations = pod.metadata?.annotations ?? {};
  const skip = (reason: SkipReason, message: string): Decision => ({
    action: 'skip',
    reason,
    message,
    warnings,
  });

  if (namespace === config.operatorNamespace) {
    return skip(
      'operator-namespace',
      `namespace ${namespace} runs the Sluice operator and is never injected`,
    );
  }
  if (config.excludedNamespaces.includes(namespace)) {
    return skip('excluded-namespace', `namespace ${namespace} is excluded from injection`);
  }

  const injected = annotations[Annotations.status] === STATUS_INJECTED;
  if (injected && pod.metadata?.labels?.[IDENTITY_LABEL] && pod.spec?.hostNetwork !== true) {
    return { action: 'complete-env', warnings };
  }

  let wanted: boolean;
  const explicit = annotations[Annotations.inject];
  if (injected) wanted = true;
  else if (explicit === 'true') wanted = true;
  else if (explicit === 'false') return skip('opted-out', `pod is annotated ${Annotations.inject}: "false"`);
  else {
    if (explicit !== undefined) {
      warnings.push(`${Annotations.inject}="${explicit}" is neither "true" nor "false" and was ignored`);
    }
    wanted = namespaceLabels?.[NAMESPACE_INJECTION_LABEL] === 'enabled';
    if (!wanted) return skip('not-enabled', 'neither the pod nor its namespace asks for injection');
  }

  if (wanted && pod.spec?.hostNetwork === true) {
    const message =
      "hostNetwork pods cannot get the Sluice sidecar: its 127.0.0.1 listener would be the node's, " +
      'open to every process on the node';
    if (config.hostNetwork === 'refuse') {
      return {
        action: 'deny',
        reason: 'host-network',
        message: `${message}; remove hostNetwork or opt out with ${Annotations.inject}: "false"`,
        warnings,
      };
    }
    warnings.push(`${message}; the pod is admitted without it`);
    return skip('host-network', message);
  }
  return { action: injected ? 'complete-identity' : 'inject', warnings };
}
