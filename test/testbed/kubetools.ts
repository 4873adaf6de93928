/**
 * kubectl and helm against a test-bed control plane, with an explicit environment (KUBECONFIG
 * given, nothing read from ~/.kube or ~/.config/helm).
 */
import { existsSync } from 'node:fs';
import { binPath } from './bin.ts';
import type { BinOptions } from './bin.ts';
import { runClient } from './clients.ts';
import type { ClientResult, RunOptions } from './clients.ts';

/** Debian/the machine image ships kubectl 1.32 here (within the supported skew of 1.34). */
export const KUBECTL = '/usr/bin/kubectl';

/** Runs `kubectl args` with KUBECONFIG=`kubeconfigPath`; never rejects on a non-zero exit. */
export function kubectl(kubeconfigPath: string, args: string[], opts?: RunOptions): Promise<ClientResult> {
  if (!existsSync(KUBECTL)) throw new Error(`kubectl not found at ${KUBECTL}: run \`make testbed\``);
  return runClient(KUBECTL, args, { KUBECONFIG: kubeconfigPath }, opts);
}

/** Runs the cached helm (`make testbed`) with KUBECONFIG=`kubeconfigPath`. */
export function helm(
  kubeconfigPath: string,
  args: string[],
  opts?: RunOptions & BinOptions,
): Promise<ClientResult> {
  return runClient(binPath('helm', { cacheDir: opts?.cacheDir }), args, { KUBECONFIG: kubeconfigPath }, opts);
}
