/**
 * A pod whose containers share the sidecar's process namespace (`shareProcessNamespace`, or
 * `hostPID`: the node's) lets a container that runs as the sidecar's UID and GID, or that may
 * trace any process (privileged, CAP_SYS_PTRACE), read the sidecar's files and memory through
 * /proc/<pid>/root, /environ and /mem: the store credentials the app must never hold. The kernel
 * allows that to the same UID and GID without any capability, so a container is safe only when
 * it cannot become 65532 or reach memory otherwise:
 * - its UID is pinned (`runAsUser`) and is not 65532, distroless's "nonroot", which many app
 *   images run as;
 * - it cannot gain privileges (`allowPrivilegeEscalation: false`): a setuid binary of its own
 *   image would otherwise make it root;
 * - as root (UID 0), it also dropped SETUID and SETGID (or ALL), which root holds by default and
 *   would switch to 65532 with;
 * - it is not privileged and adds no capability beyond Pod Security's baseline list (SYS_ADMIN,
 *   BPF with PERFMON, SYS_MODULE, DAC_READ_SEARCH and others reach another process's memory or
 *   files, as root keeps them under no_new_privs), nor SETUID or SETGID.
 */
import type { V1Container } from '@kubernetes/client-node';
import { Annotations, SIDECAR_CONTAINER_NAME } from '../contract.ts';
import { SIDECAR_UID } from './sidecar.ts';
import type { Pod } from './types.ts';

/**
 * Pod Security's baseline list of capabilities a container may add, without SETUID and SETGID
 * (they switch to the sidecar's UID and GID).
 */
const HARMLESS_ADDS = new Set([
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'SETFCAP',
  'SETPCAP',
  'SYS_CHROOT',
]);

/** Why `c` could reach the sidecar through a shared process namespace, if it could. */
function reach(pod: Pod, c: V1Container): string | undefined {
  const sc = c.securityContext;
  if (sc?.privileged === true) return 'privileged';
  // Read as the runtime might: with or without CAP_, any case (the cautious reading for adds).
  const added = (sc?.capabilities?.add ?? []).map((cap) => cap.toUpperCase().replace(/^CAP_/, ''));
  const adds = added.find((cap) => !HARMLESS_ADDS.has(cap));
  if (adds !== undefined) return `adds ${adds}`;
  const uid = sc?.runAsUser ?? pod.spec?.securityContext?.runAsUser;
  if (uid === undefined) return `sets no runAsUser (its image may run as ${SIDECAR_UID})`;
  if (uid === SIDECAR_UID) return `runs as the sidecar's UID ${SIDECAR_UID}`;
  if (sc?.allowPrivilegeEscalation !== false)
    return 'may escalate privileges (allowPrivilegeEscalation not false)';
  if (uid === 0) {
    // Only the spellings every runtime drops: containerd reads "CAP_SETUID" as CAP_CAP_SETUID,
    // drops nothing, and the capability stays.
    const dropped = new Set((sc?.capabilities?.drop ?? []).map((cap) => cap.toUpperCase()));
    if (!dropped.has('ALL') && !(dropped.has('SETUID') && dropped.has('SETGID')))
      return 'runs as root keeping SETUID and SETGID (drop them, or ALL, without a CAP_ prefix)';
  }
  return undefined;
}

/**
 * A message naming the containers that could read the sidecar's credentials through a process
 * namespace they share with it, or undefined when none could (or none is shared). `native`: the
 * sidecar runs as an init container (first of them), so every init container runs beside it;
 * in a legacy pod they all finished before it starts, but for restartable ones (sidecars of the
 * app's own). `canOptOut`: false for a pod that already has its sidecar (re-invocation, a copied
 * manifest), which the opt-out annotation no longer changes.
 */
export function processNamespaceExposure(pod: Pod, native: boolean, canOptOut = true): string | undefined {
  const spec = pod.spec;
  const how =
    spec?.hostPID === true
      ? 'hostPID'
      : spec?.shareProcessNamespace === true
        ? 'shareProcessNamespace'
        : undefined;
  if (how === undefined) return undefined;
  const inits = (spec?.initContainers ?? []).filter((c) => native || c.restartPolicy === 'Always');
  const found: string[] = [];
  for (const c of [...inits, ...(spec?.containers ?? [])]) {
    if (c.name === SIDECAR_CONTAINER_NAME) continue;
    const why = reach(pod, c);
    if (why !== undefined) found.push(`"${c.name}" (${why})`);
  }
  if (found.length === 0) return undefined;
  return (
    `${how} lets containers ${found.join(', ')} read the Sluice sidecar's credentials through /proc; ` +
    `give each a runAsUser other than ${SIDECAR_UID} and allowPrivilegeEscalation: false ` +
    `(as root, also drop SETUID and SETGID), not privileged, adding no capability beyond ` +
    `Pod Security's baseline nor SETUID or SETGID; or remove ${how}` +
    // A pod that arrives with its sidecar is not asked again: the annotation would not help.
    (canOptOut ? `, or opt out with ${Annotations.inject}: "false"` : '')
  );
}
