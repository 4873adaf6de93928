/**
 * A pod whose containers share the sidecar's process namespace (`shareProcessNamespace`, or
 * `hostPID`: the node's) lets a container that runs as the sidecar's UID and GID, or that may
 * trace any process (privileged, CAP_SYS_PTRACE), read the sidecar's files and memory through
 * /proc/<pid>/root, /environ and /mem: the store credentials the app must never hold. The kernel
 * allows that to the same UID and GID without any capability, so a container is safe only when
 * it cannot become 65532:
 * - its UID is pinned (`runAsUser`) and is not 65532, distroless's "nonroot", which many app
 *   images run as;
 * - it cannot gain privileges (`allowPrivilegeEscalation: false`): a setuid binary of its own
 *   image would otherwise make it root;
 * - as root (UID 0), it also dropped SETUID and SETGID (or ALL), which root holds by default and
 *   would switch to 65532 with;
 * - it adds none of SYS_PTRACE, SETUID, SETGID or ALL, and is not privileged.
 */
import type { V1Container } from '@kubernetes/client-node';
import { Annotations, SIDECAR_CONTAINER_NAME } from '../contract.ts';
import { SIDECAR_UID } from './sidecar.ts';
import type { Pod } from './types.ts';

/** Capabilities that read another process's memory, or become its UID or GID. */
const REACHING_CAPS = ['SYS_PTRACE', 'SETUID', 'SETGID'];

/** A capability list entry as the runtime reads it: with or without CAP_, any case. */
function capName(cap: string): string {
  return cap.toUpperCase().replace(/^CAP_/, '');
}

/** Why `c` could reach the sidecar through a shared process namespace, if it could. */
function reach(pod: Pod, c: V1Container): string | undefined {
  const sc = c.securityContext;
  if (sc?.privileged === true) return 'privileged';
  const added = (sc?.capabilities?.add ?? []).map(capName);
  const adds = added.find((cap) => cap === 'ALL' || REACHING_CAPS.includes(cap));
  if (adds !== undefined) return `adds ${adds}`;
  const uid = sc?.runAsUser ?? pod.spec?.securityContext?.runAsUser;
  if (uid === undefined) return `sets no runAsUser (its image may run as ${SIDECAR_UID})`;
  if (uid === SIDECAR_UID) return `runs as the sidecar's UID ${SIDECAR_UID}`;
  if (sc?.allowPrivilegeEscalation !== false)
    return 'may escalate privileges (allowPrivilegeEscalation not false)';
  if (uid === 0) {
    const dropped = new Set((sc?.capabilities?.drop ?? []).map(capName));
    if (!dropped.has('ALL') && !(dropped.has('SETUID') && dropped.has('SETGID')))
      return 'runs as root keeping SETUID and SETGID';
  }
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
    `give each a runAsUser other than ${SIDECAR_UID} and allowPrivilegeEscalation: false ` +
    `(as root, also drop SETUID and SETGID), without privileged or added SYS_PTRACE, SETUID or SETGID, ` +
    `or remove ${how}, or opt out with ${Annotations.inject}: "false"`
  );
}
