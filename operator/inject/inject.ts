/**
 * `sluice inject`, the pure part: the webhook's mutation applied offline to the pod templates
 * in a multi-document YAML stream (Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets,
 * Jobs, CronJobs, and v1 Lists of them), like `linkerd inject --manual`. Every other document
 * passes through unchanged. The patch is the one mutatePod() builds, applied with applyPatch(),
 * so offline and admission-time injection cannot drift apart.
 *
 * Identity is the one thing not done offline: a template is stamped into many pods, and each
 * needs its own. Injected templates carry `sluice.dev/status: injected`, no identity label and
 * a policy volume naming a Secret that cannot exist; the webhook gives each pod its identity
 * at admission (and a pod that bypassed the webhook never starts).
 */
import { Document, isMap, parseAllDocuments } from 'yaml';
import { KUBECTL_YAML } from './kubectl-yaml.ts';
import type { InjectorConfig } from '../webhook/config.ts';
import { mutatePod } from '../webhook/mutate.ts';
import type { Outcome } from '../webhook/mutate.ts';
import { applyPatch } from '../webhook/patch.ts';
import type { Pod } from '../webhook/types.ts';

/** Where the pod template lives in each workload kind. */
const TEMPLATE_PATH: Record<string, readonly string[]> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

export interface InjectOptions {
  config: InjectorConfig;
  /** The target cluster runs native sidecars (Kubernetes >= 1.29). */
  nativeSidecars: boolean;
}

/** What happened to one workload. */
export interface InjectReport {
  /** "Kind/namespace/name" (namespace omitted when the manifest has none). */
  resource: string;
  outcome: Outcome;
  warnings: string[];
}

/**
 * Injects one parsed object (a Pod, a workload or a List); returns the new object (or the same
 * one when nothing applied) and a report per pod template found.
 */
export function injectObject(obj: unknown, opts: InjectOptions): { obj: unknown; reports: InjectReport[] } {
  if (!isRecord(obj) || typeof obj.kind !== 'string') return { obj, reports: [] };
  if (obj.kind === 'List' && Array.isArray(obj.items)) {
    const reports: InjectReport[] = [];
    const items = obj.items.map((item) => {
      const r = injectObject(item, opts);
      reports.push(...r.reports);
      return r.obj;
    });
    return { obj: { ...obj, items }, reports };
  }
  const path = TEMPLATE_PATH[obj.kind];
  if (!path) return { obj, reports: [] };
  const template = getIn(obj, path);
  if (!isRecord(template)) return { obj, reports: [] };

  const meta = isRecord(obj.metadata) ? obj.metadata : {};
  const namespace = typeof meta.namespace === 'string' ? meta.namespace : '';
  const name =
    typeof meta.name === 'string'
      ? meta.name
      : typeof meta.generateName === 'string'
        ? meta.generateName
        : '?';
  const resource = [obj.kind, namespace, name].filter((s) => s !== '').join('/');
  // The template as a pod: only metadata and spec matter to the mutation.
  const pod = { metadata: template.metadata, spec: template.spec } as Pod;
  const m = mutatePod(pod, namespace, {
    config: opts.config,
    nativeSidecars: opts.nativeSidecars,
    newIdentity: () => {
      throw new Error('identities are never assigned offline');
    },
    offline: true,
  });
  const report = { resource, outcome: m.outcome, warnings: m.warnings };
  if (m.patch.length === 0) return { obj, reports: [report] };
  const injected = applyPatch(pod, m.patch);
  return {
    obj: setIn(obj, path, { ...template, metadata: injected.metadata, spec: injected.spec }),
    reports: [report],
  };
}

/**
 * Injects every document of a YAML (or JSON) stream, read as kubectl reads it (./kubectl-yaml.ts).
 * Unchanged documents are re-emitted as parsed (comments kept; a number may change its spelling,
 * not its value: 0755 is written 493); changed ones have their template replaced in place.
 * Throws on a syntax error, naming the document.
 */
export function injectStream(text: string, opts: InjectOptions): { output: string; reports: InjectReport[] } {
  const reports: InjectReport[] = [];
  const out: string[] = [];
  // As kubectl reads manifests (./kubectl-yaml.ts). Read as YAML 1.2, `defaultMode: 0400` came
  // out as 400 (0620), and a rebuilt "yes" lost its quotes and turned into a boolean for kubectl.
  parseAllDocuments(text, KUBECTL_YAML).forEach((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`document ${i + 1}: ${doc.errors[0]!.message}`);
    if (doc.contents === null) return; // an empty document between separators
    const before: unknown = doc.toJS();
    const r = injectObject(before, opts);
    reports.push(...r.reports);
    if (r.obj === before || !isMap(doc.contents)) {
      out.push(doc.toString());
      return;
    }
    // Replace only the top-level keys that changed, so comments elsewhere survive.
    const after = r.obj as Record<string, unknown>;
    for (const key of Object.keys(after)) {
      if (JSON.stringify(after[key]) !== JSON.stringify((before as Record<string, unknown>)[key])) {
        doc.set(key, new Document(after[key], KUBECTL_YAML).contents);
      }
    }
    out.push(doc.toString());
  });
  return { output: out.map((d) => (d.startsWith('---') ? d : `---\n${d}`)).join(''), reports };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function getIn(obj: unknown, path: readonly string[]): unknown {
  let cur = obj;
  for (const k of path) cur = isRecord(cur) ? cur[k] : undefined;
  return cur;
}

function setIn(
  obj: Record<string, unknown>,
  path: readonly string[],
  value: unknown,
): Record<string, unknown> {
  if (path.length === 0) return value as Record<string, unknown>;
  const [head, ...rest] = path as [string, ...string[]];
  const child = isRecord(obj[head]) ? obj[head] : {};
  return { ...obj, [head]: setIn(child, rest, value) };
}
