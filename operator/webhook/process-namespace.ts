/**
 * A pod whose containers share the sidecar's process namespace (`shareProcessNamespace`, or
 * `hostPID`: the node's) lets a container that runs as the sidecar's UID, or that may trace any
 * process (privileged, CAP_SYS_PTRACE), read the sidecar's files and memory through
 * /proc/<pid>/root and /proc/<pid>/mem: the store credentials the app must never hold. The
 * kernel allows that to the same UID without any capability. The sidecar's UID, 65532, is also
 * distroless's "nonroot", the user of many app images: a container that does not pin its UID is
 * taken to be the sidecar's.
 */
import type { V1Container } from '@kubernetes/client-node';
import { Annotations, SIDECAR_CONTAINER_NAME } from '../contract.ts';
import { SIDECAR_UID } from './sidecar.ts';
import type { Pod } from './types.ts';

/** Capabilities that let a process read another UID's /proc/<pid>/root and memory. */
const TRACE_CAPS = new Set(['SYS_PTRACE', 'CAP_SYS_PTRACE', 'ALL']);

/** Why `c` could reach the sidecar through a shared process namespace, if it could. */
function reach(pod: Pod, c: V1Container): string | undefined {
  const sc = c.securityContext;
  if (sc?.privileged === true) return 'privileged';
  const traces = sc?.capabilities?.add?.some((cap) => TRACE_CAPS.has(cap.toUpperCase()));
  if (traces) return 'adds SYS_PTRACE';
  const uid = sc?.runAsUser ?? pod.spec?.securityContext?.runAsUser;
  if (uid === undefined) return `sets no runAsUser (its image may run as ${SIDECAR_UID})`;
  if (uid === SIDECAR_UID) return `runs as the sidecar's UID ${SIDECAR_UID}`;
  return undefined;
}

/**
 * A message naming the containers that could read the sidecar's credentials through a process
 * namespace they share with it, or undefined when none could (or none is shared).
 */
export function processNamespaceExposure(pod: Pod): string | undefined {
  const spec = pod.spec;
  const how =
    spec?.hostPID === true
      ? 'hostPID'
      : spec?.shareProcessNamespace === true
        ? 'shareProcessNamespace'
        : undefined;
  if (how === undefined) return undefined;
  const found: string[] = [];
  for (const c of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]) {
    if (c.name === SIDECAR_CONTAINER_NAME) continue;
    const why = reach(pod, c);
    if (why !== undefined) found.push(`"${c.name}" (${why})`);
  }
  if (found.length === 0) return undefined;
  return (
    `${how} lets containers ${found.join(', ')} read the Sluice sidecar's credentials through /proc; ` +
    `give each a runAsUser other than ${SIDECAR_UID} (not privileged, without SYS_PTRACE), ` +
    `or remove ${how}, or opt out with ${Annotations.inject}: "false"`
  );
}
