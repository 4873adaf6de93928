/**
 * Runs the real helm binary (the test bed's, see test/testbed/bin.ts) against charts/sluice and
 * parses what it renders. Shared by the chart's unit tests and its integration tests.
 */
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { binPath } from '../../testbed/bin.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const CHART_DIR = resolve(REPO_ROOT, 'charts/sluice');

/** A rendered Kubernetes object, as plain JSON. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

/** What one helm invocation printed, and how it exited. */
export interface HelmRun {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs `helm ...args` synchronously (helm is quick and local); never throws on a non-zero exit. */
export function helm(args: string[]): HelmRun {
  const r = spawnSync(binPath('helm'), args, {
    encoding: 'utf8',
    // An isolated helm home: no user repositories, plugins or caches leak into the test.
    env: {
      PATH: '/usr/bin:/bin',
      HELM_CACHE_HOME: '/tmp/sluice-helm/cache',
      HELM_CONFIG_HOME: '/tmp/sluice-helm/config',
      HELM_DATA_HOME: '/tmp/sluice-helm/data',
    },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Options for {@link template}. */
export interface TemplateOptions {
  release?: string;
  namespace?: string;
  /** Values by dotted path, passed with --set-json (so types survive: numbers, booleans, objects). */
  values?: Record<string, unknown>;
  /** Render crds/ too (helm install applies them first). */
  includeCrds?: boolean;
}

/** `helm template` arguments for these options. */
export function templateArgs(opts: TemplateOptions = {}): string[] {
  const args = [
    'template',
    opts.release ?? 'sluice',
    CHART_DIR,
    '--namespace',
    opts.namespace ?? 'sluice-system',
  ];
  if (opts.includeCrds) args.push('--include-crds');
  for (const [path, value] of Object.entries(opts.values ?? {}))
    args.push('--set-json', `${path}=${JSON.stringify(value)}`);
  return args;
}

/** Renders the chart; throws with helm's stderr when it refuses. */
export function template(opts: TemplateOptions = {}): Manifest[] {
  const run = helm(templateArgs(opts));
  if (run.status !== 0) throw new Error(`helm template failed (${run.status}): ${run.stderr}`);
  return parseManifests(run.stdout);
}

/** Every non-empty YAML document of a multi-document stream. */
export function parseManifests(stream: string): Manifest[] {
  const out: Manifest[] = [];
  for (const doc of parseAllDocuments(stream)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]?.message}`);
    const obj = doc.toJS() as Manifest | null;
    if (obj !== null) out.push(obj);
  }
  return out;
}

/** The one manifest of `kind` (and `name`, when given); throws naming what was there instead. */
export function one(manifests: Manifest[], kind: string, name?: string): Manifest {
  const found = manifests.filter((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
  if (found.length !== 1) {
    const have = manifests.map((m) => `${m.kind}/${m.metadata.name}`).join(', ');
    throw new Error(
      `expected exactly one ${kind}${name ? `/${name}` : ''}, found ${found.length} among: ${have}`,
    );
  }
  return found[0] as Manifest;
}

/** All manifests of `kind`. */
export function all(manifests: Manifest[], kind: string): Manifest[] {
  return manifests.filter((m) => m.kind === kind);
}
