/**
 * Per-pod overrides of the sidecar, read from the documented annotations in ../contract.ts.
 * A value that cannot mean anything (a port "abc", a quantity "lots") is a *problem*: the pod
 * is denied with every problem listed, because silently using a default would run the pod
 * differently from what its author wrote. Suspicious but workable settings are *warnings*.
 */
import { Annotations } from '../contract.ts';
import type { InjectorConfig, LogLevel, SidecarResources } from './config.ts';
import { LOG_LEVELS } from './config.ts';
import { parseQuantity } from './quantity.ts';

/** The sidecar settings for one pod: operator config overlaid with the pod's annotations. */
export interface SidecarSettings {
  proxyPort: number;
  adminPort: number;
  resources: SidecarResources;
  logLevel: LogLevel;
  cacheSize?: string;
  /** App containers named in `sluice.dev/containers`; undefined = all of them. */
  containers?: string[];
}

export interface ParsedAnnotations {
  settings: SidecarSettings;
  /** Garbage values: the pod is denied. */
  problems: string[];
  warnings: string[];
}

const KNOWN = new Set<string>(Object.values(Annotations));
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

const RESOURCE_ANNOTATIONS = [
  [Annotations.proxyCpuRequest, 'requests', 'cpu'],
  [Annotations.proxyCpuLimit, 'limits', 'cpu'],
  [Annotations.proxyMemoryRequest, 'requests', 'memory'],
  [Annotations.proxyMemoryLimit, 'limits', 'memory'],
] as const;

/** Overlays `annotations` on `config`; pure. */
export function parseAnnotations(
  annotations: Readonly<Record<string, string>>,
  config: InjectorConfig,
): ParsedAnnotations {
  const problems: string[] = [];
  const warnings: string[] = [];
  const settings: SidecarSettings = {
    proxyPort: config.proxyPort,
    adminPort: config.adminPort,
    resources: {
      requests: { ...config.resources.requests },
      limits: { ...config.resources.limits },
    },
    logLevel: config.logLevel,
    ...(config.cacheSize !== undefined && { cacheSize: config.cacheSize }),
  };

  const port = annotations[Annotations.proxyPort];
  if (port !== undefined) {
    const n = /^[0-9]{1,5}$/.test(port) ? Number(port) : NaN;
    // Below 1024 a non-root sidecar cannot bind; the admin port is taken.
    if (!(n >= 1024 && n <= 65535)) problems.push(`${Annotations.proxyPort}="${port}": a port 1024-65535`);
    else if (n === settings.adminPort)
      problems.push(`${Annotations.proxyPort}=${n} is the sidecar's admin port`);
    else settings.proxyPort = n;
  }

  for (const [key, kind, res] of RESOURCE_ANNOTATIONS) {
    const v = annotations[key];
    if (v === undefined) continue;
    const q = parseQuantity(v);
    if (q === undefined || q < 0)
      problems.push(`${key}="${v}": a Kubernetes quantity such as "100m" or "128Mi"`);
    else settings.resources[kind][res] = v;
  }
  for (const res of ['cpu', 'memory'] as const) {
    const req = settings.resources.requests[res];
    const lim = settings.resources.limits[res];
    if (req !== undefined && lim !== undefined && parseQuantity(lim)! < parseQuantity(req)!) {
      problems.push(`sidecar ${res} limit ${lim} is below its request ${req}`);
    }
  }

  const level = annotations[Annotations.logLevel];
  if (level !== undefined) {
    if ((LOG_LEVELS as readonly string[]).includes(level)) settings.logLevel = level as LogLevel;
    else problems.push(`${Annotations.logLevel}="${level}": one of ${LOG_LEVELS.join(', ')}`);
  }

  const cache = annotations[Annotations.cacheSize];
  if (cache !== undefined) {
    const q = parseQuantity(cache);
    if (q === undefined || q < 0)
      problems.push(`${Annotations.cacheSize}="${cache}": a quantity such as "256Mi"`);
    else settings.cacheSize = cache;
  }
  const mem = settings.resources.limits.memory;
  if (
    settings.cacheSize !== undefined &&
    mem !== undefined &&
    parseQuantity(settings.cacheSize)! >= parseQuantity(mem)!
  ) {
    warnings.push(`sidecar cache ${settings.cacheSize} does not fit its memory limit ${mem}`);
  }

  const list = annotations[Annotations.containers];
  if (list !== undefined) {
    const names = list
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    const bad = names.filter((n) => !DNS_LABEL.test(n));
    if (names.length === 0) problems.push(`${Annotations.containers} is empty: name at least one container`);
    else if (bad.length > 0)
      problems.push(`${Annotations.containers}: invalid container names ${bad.join(', ')}`);
    else settings.containers = [...new Set(names)];
  }

  for (const key of Object.keys(annotations)) {
    if (key.startsWith('sluice.dev/') && !KNOWN.has(key)) warnings.push(`unknown annotation ${key} ignored`);
  }
  return { settings, problems, warnings };
}
