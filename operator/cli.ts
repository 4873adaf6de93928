/**
 * `sluice operator`: the webhook server on every replica, the controller on the leader only
 * (coordination.k8s.io Lease), plus /healthz + /readyz and /metrics. The only place that reads
 * process.env (POD_NAME, POD_NAMESPACE from the downward API) and the kubeconfig location.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Command } from 'commander';
import { KubeConfig } from '@kubernetes/client-node';
import pino, { type Logger } from 'pino';
import { Controller, controllerPerTerm } from './controller/controller.ts';
import { parseOperatorConfig, type OperatorConfig, type RawOperatorOptions } from './config.ts';
import { KubeClient } from './kube/client.ts';
import { LeaderElector } from './kube/leader.ts';
import { createOperatorMetrics } from './metrics.ts';
import { startWebhookServer, type WebhookServer, type WebhookTlsOptions } from './webhook/server.ts';

/** A running operator; see {@link startOperator}. */
export interface RunningOperator {
  readonly healthPort: number;
  readonly metricsPort: number;
  readonly webhookPort: number;
  /** /readyz answers 503 from now on: endpoints stop sending admissions before stop(). */
  unready(): void;
  /** Stops the controller (releasing the Lease), the webhook and the HTTP servers. */
  stop(): Promise<void>;
}

/**
 * How long a terminating operator keeps serving admissions after /readyz turned 503, while
 * the Service's endpoints catch up: closed at once, the API server's calls still routed to it
 * were refused, and with failurePolicy Fail so was every opted-in pod during each rollout.
 */
const SHUTDOWN_DELAY_MS = 5_000;

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve((server.address() as AddressInfo).port));
  });
}

function webhookTls(c: OperatorConfig): WebhookTlsOptions {
  if (c.webhook.tls.mode === 'cert-manager') {
    const d = c.webhook.tls.certDir;
    return { mode: 'mounted', certFile: `${d}/tls.crt`, keyFile: `${d}/tls.key`, caFile: `${d}/ca.crt` };
  }
  const svc = c.webhook.serviceName;
  const ns = c.namespace;
  return {
    mode: 'self-managed',
    secretName: c.webhook.tls.secretName,
    dnsNames: [svc, `${svc}.${ns}`, `${svc}.${ns}.svc`, `${svc}.${ns}.svc.cluster.local`],
    ipAddresses: c.webhook.ipSans,
    webhookConfigurationName: c.webhook.configName,
  };
}

/** Starts everything `config` describes against `kubeConfig`. */
export async function startOperator(
  config: OperatorConfig,
  kubeConfig: KubeConfig,
  log: Logger,
): Promise<RunningOperator> {
  const metrics = createOperatorMetrics();
  const client = new KubeClient(kubeConfig);
  const makeController = (): Controller =>
    new Controller({
      client,
      log: log.child({ component: 'controller' }),
      metrics,
      resyncPeriodMs: config.controller.resyncPeriodMs,
      workers: config.controller.workers,
      instance: config.identity,
      sts: {
        defaultDurationSeconds: config.controller.stsDurationSeconds,
        renewFraction: config.controller.stsRenewFraction,
      },
    });

  // Ready once the webhook serves and knows the API server's version: a replica without a
  // certificate must not get admissions, nor one that would inject legacy sidecars on a cluster
  // that has native ones. Unready again once shutting down.
  let ready = false;
  let webhook: WebhookServer | undefined = undefined; // set once it serves
  const health = createServer((req, res) => {
    const ok = req.url === '/readyz' ? ready && webhook?.ready() === true : true;
    res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'starting\n');
  });
  const metricsServer = createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    metrics.registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  const healthPort = await listen(health, config.ports.health);
  const metricsPort = await listen(metricsServer, config.ports.metrics).catch(async (err: unknown) => {
    await new Promise((r) => health.close(r));
    throw err;
  });

  let started: WebhookServer;
  try {
    started = await startWebhookServer({
      injector: config.webhook.injector,
      tls: webhookTls(config),
      kubeConfig,
      port: config.ports.webhook,
      logger: log.child({ component: 'webhook' }),
      registry: metrics.registry,
    });
  } catch (err) {
    // Not left listening: /healthz would keep answering 200 for an operator that never started,
    // so the liveness probe would never restart it.
    await Promise.all([health, metricsServer].map((s) => new Promise((r) => s.close(r))));
    throw err;
  }
  webhook = started;
  ready = true;

  let elector: LeaderElector | undefined;
  let controller: Controller | undefined;
  if (config.leaderElection.enabled) {
    const terms = controllerPerTerm(makeController);
    elector = new LeaderElector(client, {
      namespace: config.namespace,
      name: config.leaderElection.leaseName,
      identity: config.identity,
      leaseDurationMs: config.leaderElection.leaseDurationMs,
      renewDeadlineMs: config.leaderElection.renewDeadlineMs,
      retryPeriodMs: config.leaderElection.retryPeriodMs,
      onStartedLeading: async () => {
        log.info({ identity: config.identity }, 'became leader: starting the controller');
        metrics.isLeader.set(1);
        metrics.leaderTransitionsTotal.inc();
        await terms.onStartedLeading();
      },
      onStoppedLeading: async () => {
        log.warn({ identity: config.identity }, 'leadership lost or released: stopping the controller');
        metrics.isLeader.set(0);
        await terms.onStoppedLeading();
      },
      onError: (err) => log.warn({ err: String(err) }, 'leader election'),
    });
    elector.start();
  } else {
    metrics.isLeader.set(1);
    controller = makeController();
    await controller.start();
  }

  return {
    healthPort,
    metricsPort,
    webhookPort: started.port,
    unready() {
      ready = false;
    },
    async stop() {
      ready = false;
      if (elector) await elector.stop();
      else await controller?.stop();
      await started.close();
      await Promise.all([health, metricsServer].map((s) => new Promise((r) => s.close(r))));
    },
  };
}

/** Registers `sluice operator`; flags match charts/sluice/templates/_operator-args.tpl. */
export function registerOperatorCommand(program: Command): void {
  program
    .command('operator')
    .description('Run the operator: the injection webhook on every replica, the controller on the leader')
    .option('--kubeconfig <path>', 'kubeconfig (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)')
    .option('--namespace <ns>', 'operator namespace (default: $POD_NAMESPACE, else sluice-system)')
    .option('--log-level <level>', 'trace|debug|info|warn|error|fatal', 'info')
    .option('--webhook-port <port>', 'webhook HTTPS port', '9443')
    .option('--health-port <port>', '/healthz and /readyz port', '8081')
    .option('--metrics-port <port>', '/metrics port', '8080')
    .option('--webhook-config-name <name>', 'MutatingWebhookConfiguration whose caBundle is kept current')
    .option('--webhook-service <name>', 'Service in front of the webhook (certificate DNS names)')
    .option('--webhook-ip-sans <ips>', 'comma-separated IP SANs for the self-signed certificate')
    .option('--tls-mode <mode>', 'self-signed | cert-manager', 'self-signed')
    .option('--tls-secret <name>', 'Secret holding the self-signed CA and certificate')
    .option('--tls-cert-dir <dir>', 'mounted tls.crt/tls.key/ca.crt (cert-manager mode)')
    .option('--leader-elect <bool>', 'elect one reconciling replica through a Lease', 'true')
    .option('--leader-election-lease <name>', 'Lease name', 'sluice-operator-leader')
    .option('--leader-election-lease-duration <d>', 'e.g. 15s', '15s')
    .option('--leader-election-renew-deadline <d>', 'e.g. 10s', '10s')
    .option('--leader-election-retry-period <d>', 'e.g. 2s', '2s')
    .option('--resync-period <d>', 'full re-reconcile period', '10m')
    .option('--workers <n>', 'concurrent reconciles', '4')
    .option('--sts-duration <d>', 'default STS credential lifetime (15m-12h)', '1h')
    .option('--sidecar-image <image>', 'sidecar image')
    .option('--sidecar-image-pull-policy <policy>', 'Always | IfNotPresent | Never')
    .option('--sidecar-log-level <level>', 'sidecar log level')
    .option(
      '--sidecar-node-options <flags>',
      'NODE_OPTIONS of every injected sidecar ("" for none); default --max-semi-space-size=1',
    )
    .option('--sidecar-cpu-request <q>', 'sidecar CPU request')
    .option('--sidecar-memory-request <q>', 'sidecar memory request')
    .option('--sidecar-cpu-limit <q>', 'sidecar CPU limit')
    .option('--sidecar-memory-limit <q>', 'sidecar memory limit')
    .option('--host-network <policy>', 'refuse | skip hostNetwork pods asking for injection')
    .option('--exclude-namespaces <list>', 'comma-separated namespaces never injected')
    .action(async (raw: RawOperatorOptions) => {
      // User errors (a bad flag, an unreadable kubeconfig) are one line and exit 2, not a stack.
      let config: OperatorConfig;
      const kc = new KubeConfig();
      try {
        config = parseOperatorConfig(raw, {
          podName: process.env.POD_NAME,
          podNamespace: process.env.POD_NAMESPACE,
        });
        if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
        else kc.loadFromDefault();
      } catch (err) {
        process.stderr.write(`sluice operator: invalid configuration: ${(err as Error).message}\n`);
        process.exitCode = 2;
        return;
      }
      const log = pino({ name: 'sluice-operator', level: config.logLevel });
      let op: RunningOperator;
      try {
        op = await startOperator(config, kc, log);
      } catch (err) {
        // A port in use, a TLS Secret that cannot be read: logged as such, not thrown as a stack.
        // Exit, whatever is still pending (the Kubernetes version probe retries on a timer):
        // a restart is what gets an operator that could not start going.
        log.fatal({ err: (err as Error).message }, 'operator could not start');
        process.exit(1);
      }
      log.info(
        {
          identity: config.identity,
          ports: { webhook: op.webhookPort, health: op.healthPort, metrics: op.metricsPort },
        },
        'operator running',
      );
      await new Promise<void>((resolve) => {
        const onSignal = (sig: string): void => {
          log.info({ sig, delayMs: SHUTDOWN_DELAY_MS }, 'shutting down: unready, still serving meanwhile');
          op.unready();
          resolve();
        };
        process.once('SIGTERM', onSignal);
        process.once('SIGINT', onSignal);
      });
      // A second signal ends the wait (Ctrl-C twice).
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, SHUTDOWN_DELAY_MS);
        const now = (): void => {
          clearTimeout(timer);
          resolve();
        };
        process.once('SIGTERM', now);
        process.once('SIGINT', now);
      });
      await op.stop();
    });
}
