/**
 * kubectl and helm against a test-bed control plane, with an explicit environment (KUBECONFIG
 * given, nothing read from ~/.kube or ~/.config/helm).
 */
import { binPath } from './bin.ts';
import type { BinOptions } from './bin.ts';
import { runClient } from './clients.ts';
import type { ClientResult, RunOptions } from './clients.ts';

/**
 * Runs the cached kubectl (`make testbed`) with KUBECONFIG=`kubeconfigPath`; never rejects on a
 * non-zero exit. build.sh builds it from the same k8s.io/kubernetes as kube-apiserver, so client
 * and server versions match on any machine (no distribution kubectl is assumed: Debian 12's is 1.20).
 */
export function kubectl(
  kubeconfigPath: string,
  args: string[],
  opts?: RunOptions & BinOptions,
): Promise<ClientResult> {
  return runClient(
    binPath('kubectl', { cacheDir: opts?.cacheDir }),
    args,
    { KUBECONFIG: kubeconfigPath },
    opts,
  );
}

/** Runs the cached helm (`make testbed`) with KUBECONFIG=`kubeconfigPath`. */
export function helm(
  kubeconfigPath: string,
  args: string[],
  opts?: RunOptions & BinOptions,
): Promise<ClientResult> {
  return runClient(binPath('helm', { cacheDir: opts?.cacheDir }), args, { KUBECONFIG: kubeconfigPath }, opts);
}
