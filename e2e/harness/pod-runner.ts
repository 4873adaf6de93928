/**
 * Plays kubelet for one admitted pod in a test bed that has no kubelet: reads the pod back from
 * the API server, materialises the sidecar's Secret and downward-API volumes into temp dirs (and
 * keeps them in sync, as kubelet does), and starts the sidecar container's command with its args
 * and env — the same process the image runs (`node dist/bin/sluice.js …`, built by the journey).
 *
 * Differences from a real node, on purpose: each pod has no network namespace of its own here, so
 * the sidecar's listen/admin ports are remapped to free loopback ports (the app env's endpoint
 * follows), and mount paths are remapped to temp dirs in the args.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CoreV1Api,
  type KubeConfig,
  type V1Container,
  type V1Pod,
  type V1Volume,
} from '@kubernetes/client-node';
import { SIDECAR_CONTAINER_NAME } from '../../operator/contract.ts';
import { DIST_ENTRY } from '../../scripts/build.ts';
import { atomicWrite, renderDownwardMap } from './volumes.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface RunningPod {
  readonly pod: V1Pod;
  /** The sidecar container as admitted (native sidecar or first container). */
  readonly sidecar: V1Container;
  /** App containers' env as admitted, with the S3 endpoint remapped to the sidecar's real port. */
  appEnv(container?: string): Record<string, string>;
  readonly s3Port: number;
  readonly adminPort: number;
  readonly process: ChildProcess;
  readonly logFile: string;
  /** Re-reads mounted Secrets and downward-API data now (the loop also does it periodically). */
  sync(): Promise<void>;
  stop(): Promise<void>;
}

export interface RunPodOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  s3Port: number;
  adminPort: number;
  /** How often volumes are re-synced (kubelet's sync period is ~1 min; tests want faster). */
  syncEveryMs?: number;
}

/** Finds the injected sidecar: a native sidecar in initContainers, else a regular container. */
export function findSidecar(pod: V1Pod): V1Container | undefined {
  return (
    pod.spec?.initContainers?.find((c) => c.name === SIDECAR_CONTAINER_NAME) ??
    pod.spec?.containers.find((c) => c.name === SIDECAR_CONTAINER_NAME)
  );
}

/** Rewrites `--flag value` / `--flag=value` in args. */
function replaceFlag(args: string[], flag: string, value: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === flag && i + 1 < args.length) {
      out.push(a, value);
      i++;
    } else if (a.startsWith(`${flag}=`)) out.push(`${flag}=${value}`);
    else out.push(a);
  }
  return out;
}

export async function runPod(opts: RunPodOptions): Promise<RunningPod> {
  const core = opts.kubeConfig.makeApiClient(CoreV1Api);
  const pod = await core.readNamespacedPod({ name: opts.name, namespace: opts.namespace });
  const sidecar = findSidecar(pod);
  if (!sidecar)
    throw new Error(`pod ${opts.namespace}/${opts.name} has no ${SIDECAR_CONTAINER_NAME} container`);

  const root = await mkdtemp(join(tmpdir(), `sluice-pod-${opts.name}-`));
  const mounts = new Map<string, { dir: string; volume: V1Volume }>();
  for (const m of sidecar.volumeMounts ?? []) {
    const volume = pod.spec?.volumes?.find((v) => v.name === m.name);
    if (!volume) throw new Error(`volumeMount ${m.name} has no volume`);
    mounts.set(m.mountPath, { dir: join(root, m.name), volume });
  }

  const sync = async (): Promise<void> => {
    const current = await core.readNamespacedPod({ name: opts.name, namespace: opts.namespace });
    for (const { dir, volume } of mounts.values()) {
      if (volume.secret?.secretName) {
        let data: Record<string, string> = {};
        try {
          const s = await core.readNamespacedSecret({
            name: volume.secret.secretName,
            namespace: opts.namespace,
          });
          data = s.data ?? {};
        } catch (err) {
          // kubelet keeps the pod waiting for a missing Secret unless optional; we keep last data.
          if (!volume.secret.optional) continue;
          void err;
        }
        const files = new Map(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
        await atomicWrite(dir, files);
      } else if (volume.downwardAPI) {
        const files = new Map<string, Buffer>();
        for (const item of volume.downwardAPI.items ?? []) {
          const path = item.fieldRef?.fieldPath;
          if (path === 'metadata.labels') files.set(item.path, renderDownwardMap(current.metadata?.labels));
          else if (path === 'metadata.annotations')
            files.set(item.path, renderDownwardMap(current.metadata?.annotations));
          else if (path === 'metadata.name') files.set(item.path, Buffer.from(current.metadata?.name ?? ''));
          else if (path === 'metadata.namespace') files.set(item.path, Buffer.from(opts.namespace));
        }
        await atomicWrite(dir, files);
      } else {
        await atomicWrite(dir, new Map()); // emptyDir and friends: an empty directory
      }
    }
  };
  await sync();

  const remapPath = (arg: string): string => {
    for (const [mountPath, { dir }] of mounts) {
      if (arg === mountPath || arg.startsWith(`${mountPath}/`)) return dir + arg.slice(mountPath.length);
      const eq = arg.indexOf('=');
      if (eq > 0 && arg.slice(eq + 1).startsWith(mountPath)) {
        return arg.slice(0, eq + 1) + dir + arg.slice(eq + 1 + mountPath.length);
      }
    }
    return arg;
  };
  // The image's ENTRYPOINT is `node dist/bin/sluice.js` and it ships a `sluice` launcher that
  // runs the same; `command` replaces the entrypoint, `args` follow it.
  let entrypoint = sidecar.command ?? ['node', DIST_ENTRY];
  if (entrypoint[0] === 'sluice') entrypoint = ['node', DIST_ENTRY, ...entrypoint.slice(1)];
  let args = [...entrypoint.slice(1), ...(sidecar.args ?? [])].map(remapPath);
  args = replaceFlag(args, '--listen', `127.0.0.1:${opts.s3Port}`);
  args = replaceFlag(args, '--admin', `127.0.0.1:${opts.adminPort}`);
  args = args.map((a) => (a === DIST_ENTRY ? join(repoRoot, DIST_ENTRY) : a));
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  for (const e of sidecar.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = opts.name;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = opts.namespace;
  }
  const logFile = join(root, 'sidecar.log');
  const log = createWriteStream(logFile);
  const node = join(repoRoot, 'node_modules/.bin/node');
  const child = spawn(entrypoint[0] === 'node' ? node : (entrypoint[0] as string), args, {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);

  // One sync at a time, none after stop(): a sync still writing a volume while stop() removes
  // the pod's directory made rm fail with ENOTEMPTY.
  let stopped = false;
  let syncing: Promise<void> = Promise.resolve();
  const syncOnce = (): Promise<void> => {
    syncing = syncing.catch(() => undefined).then(() => (stopped ? undefined : sync()));
    return syncing;
  };
  let ticking = false; // a tick while the last one still syncs is skipped, not queued
  const timer = setInterval(() => {
    if (ticking) return;
    ticking = true;
    syncOnce()
      .catch(() => undefined) // a transient API error is retried on the next tick, as kubelet does
      .finally(() => (ticking = false));
  }, opts.syncEveryMs ?? 500);
  timer.unref();

  return {
    pod,
    sidecar,
    s3Port: opts.s3Port,
    adminPort: opts.adminPort,
    process: child,
    logFile,
    sync: syncOnce,
    appEnv(container) {
      const c = container
        ? pod.spec?.containers.find((x) => x.name === container)
        : pod.spec?.containers.find((x) => x.name !== SIDECAR_CONTAINER_NAME);
      const out: Record<string, string> = {};
      for (const e of c?.env ?? []) if (e.value !== undefined) out[e.name] = e.value;
      if (out.AWS_ENDPOINT_URL_S3) out.AWS_ENDPOINT_URL_S3 = `http://127.0.0.1:${opts.s3Port}`;
      return out;
    },
    async stop() {
      clearInterval(timer);
      stopped = true;
      await syncing.catch(() => undefined);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      log.end();
      await rm(root, { recursive: true, force: true });
    },
  };
}
