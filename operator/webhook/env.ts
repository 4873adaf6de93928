/**
 * The S3 environment given to app containers, so unmodified AWS SDKs talk to the sidecar:
 * AWS_ENDPOINT_URL_S3 (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html),
 * AWS_REGION and placeholder keys. Never overrides: a variable the container already defines
 * in `env` is left as it is, with an admission warning.
 *
 * `envFrom` cannot be inspected at admission (the ConfigMap/Secret may not exist yet and can
 * change later) and Kubernetes lets `env` win over `envFrom`; the variables are still added,
 * with a warning naming them, because a pod that asked for Sluice should reach it — define the
 * variable in `env` to keep your own value.
 */
import type { V1Container, V1EnvVar } from '@kubernetes/client-node';
import {
  PLACEHOLDER_ACCESS_KEY_ID,
  PLACEHOLDER_SECRET_ACCESS_KEY,
  SIDECAR_CONTAINER_NAME,
} from '../contract.ts';
import type { SidecarSettings } from './annotations.ts';
import type { InjectorConfig } from './config.ts';
import type { PatchBuilder } from './patch.ts';
import { pointer } from './patch.ts';
import type { Pod } from './types.ts';

/** The variables, in the order they are appended. */
export function s3Env(settings: SidecarSettings, config: InjectorConfig): V1EnvVar[] {
  return [
    { name: 'AWS_ENDPOINT_URL_S3', value: `http://127.0.0.1:${settings.proxyPort}` },
    { name: 'AWS_REGION', value: config.region },
    { name: 'AWS_ACCESS_KEY_ID', value: PLACEHOLDER_ACCESS_KEY_ID },
    { name: 'AWS_SECRET_ACCESS_KEY', value: PLACEHOLDER_SECRET_ACCESS_KEY },
  ];
}

interface Target {
  list: 'containers' | 'initContainers';
  index: number;
  container: V1Container;
}

/**
 * The containers that get the S3 env: all app containers, or those named in
 * `sluice.dev/containers` (init containers only by name and only with a native sidecar, which
 * runs before them). Warnings for names it cannot honour.
 */
function envTargets(
  pod: Pod,
  settings: SidecarSettings,
  native: boolean,
): { targets: Target[]; warnings: string[] } {
  const warnings: string[] = [];
  const containers = pod.spec?.containers ?? [];
  const inits = pod.spec?.initContainers ?? [];
  if (settings.containers === undefined) {
    return {
      targets: containers.map((container, index) => ({ list: 'containers', index, container })),
      warnings,
    };
  }
  const targets: Target[] = [];
  for (const name of settings.containers) {
    const ci = containers.findIndex((c) => c.name === name);
    const ii = inits.findIndex((c) => c.name === name);
    if (ci >= 0) targets.push({ list: 'containers', index: ci, container: containers[ci]! });
    else if (ii >= 0 && native) targets.push({ list: 'initContainers', index: ii, container: inits[ii]! });
    else if (ii >= 0)
      warnings.push(`init container "${name}" runs before a non-native sidecar starts; no S3 env`);
    else warnings.push(`sluice.dev/containers names "${name}", which is not a container of this pod`);
  }
  return { targets, warnings };
}

/** Appends to each target the variables its `env` lacks; returns warnings. */
function appendEnv(targets: Target[], vars: V1EnvVar[], patch: PatchBuilder): string[] {
  const warnings: string[] = [];
  for (const { list, index, container } of targets) {
    const own = new Set((container.env ?? []).map((e) => e.name));
    const add = vars.filter((v) => !own.has(v.name));
    const kept = vars.filter((v) => own.has(v.name)).map((v) => v.name);
    if (kept.length > 0) {
      warnings.push(`container "${container.name}" sets its own ${kept.join(', ')}; left unchanged`);
    }
    if (own.has('AWS_ENDPOINT_URL') && add.some((v) => v.name === 'AWS_ENDPOINT_URL_S3')) {
      warnings.push(
        `container "${container.name}" sets AWS_ENDPOINT_URL; S3 calls now use AWS_ENDPOINT_URL_S3 (Sluice)`,
      );
    }
    if ((container.envFrom?.length ?? 0) > 0 && add.length > 0) {
      warnings.push(
        `container "${container.name}" uses envFrom; Sluice's ${add.map((v) => v.name).join(', ')} take ` +
          'precedence over the same names there (set them in env to keep yours)',
      );
    }
    patch.append(pointer('spec', list, index, 'env'), container.env, add);
  }
  return warnings;
}

/**
 * Appends the S3 env to the target containers of `pod` (see {@link envTargets}). Indexes refer
 * to `pod` as given: call before inserting the sidecar. Returns warnings.
 */
export function injectEnv(
  pod: Pod,
  settings: SidecarSettings,
  config: InjectorConfig,
  native: boolean,
  patch: PatchBuilder,
): string[] {
  const { targets, warnings } = envTargets(pod, settings, native);
  return [...warnings, ...appendEnv(targets, s3Env(settings, config), patch)];
}

/**
 * Re-invocation of an injected pod: the targets that lack some of the S3 env — containers a
 * later webhook added — get it, as the first injection would have given it. Injection left
 * every target with all the variables (its own or Sluice's), so the others, and the sidecar,
 * are left alone and a pod with nothing new gets no patch. Returns warnings about the new
 * containers only: the first injection already warned about the rest.
 */
export function completeEnv(
  pod: Pod,
  settings: SidecarSettings,
  config: InjectorConfig,
  native: boolean,
  patch: PatchBuilder,
): string[] {
  const vars = s3Env(settings, config);
  const lacking = envTargets(pod, settings, native).targets.filter(
    ({ container }) =>
      container.name !== SIDECAR_CONTAINER_NAME &&
      !vars.every((v) => (container.env ?? []).some((e) => e.name === v.name)),
  );
  return appendEnv(lacking, vars, patch);
}
