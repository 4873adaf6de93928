/**
 * `sluice proxy`: the edge of the proxy. Reads the config and policy files once, validates them
 * (errors name the bad field), starts the proxy and turns SIGTERM/SIGINT into a graceful drain.
 * Nothing below this file reads files for configuration or looks at process.env.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { resolveBalancerOptions } from './balancer/config.ts';
import { ConfigError, parseDocumentText, parseProxyConfig } from './config/parse.ts';
import type { ProxyConfig } from './config/types.ts';
import { flushLog } from './log.ts';
import { startProxy, type ProxyHandle } from './server.ts';

/** CLI flags of `sluice proxy`. */
export interface ProxyFlags {
  config?: string;
  policy?: string;
  listen?: string;
  admin?: string;
  logLevel?: string;
}

function readDoc(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, `cannot read: ${(err as Error).message}`);
  }
  return parseDocumentText(text, file);
}

/** Loads and validates the configuration named by `flags`. Throws ConfigError. */
export function loadProxyConfig(flags: ProxyFlags): ProxyConfig {
  const configFile = flags.config ? resolve(flags.config) : undefined;
  const policyFile = flags.policy ? resolve(flags.policy) : undefined;
  if (!configFile && !policyFile)
    throw new ConfigError('--config', 'give --config FILE and/or --policy FILE');
  const f: { listen?: string; admin?: string; logLevel?: string } = {};
  if (flags.listen) f.listen = flags.listen;
  if (flags.admin) f.admin = flags.admin;
  if (flags.logLevel) f.logLevel = flags.logLevel;
  const config = parseProxyConfig({
    config: configFile ? readDoc(configFile) : {},
    configDir: configFile ? dirname(configFile) : process.cwd(),
    ...(policyFile ? { policy: { raw: readDoc(policyFile), file: policyFile } } : {}),
    flags: f,
  });
  // The balancer's own checks (values together, e.g. the ejection bounds), here so that a bad
  // value is a configuration error (exit 2) and not a crash at start.
  for (const store of config.policy.stores) resolveBalancerOptions(store);
  return config;
}

/** Registers `sluice proxy`. */
export function registerProxyCommand(program: Command): void {
  program
    .command('proxy')
    .description('Run the S3 sidecar proxy')
    .option('--config <file>', 'proxy config (YAML or JSON): listeners, timeouts, limits, inline policy')
    .option(
      '--policy <file>',
      'PodPolicyDocument JSON (the operator-mounted policy.json); --config then holds no stores/grants',
    )
    .option('--listen <host:port>', 'S3 listener (default 127.0.0.1:7480)')
    .option(
      '--admin <host:port>',
      'admin listener: /metrics /healthz /readyz (default :7481, every address, IPv4 and IPv6)',
    )
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent')
    .action(async (flags: ProxyFlags) => {
      let config: ProxyConfig;
      try {
        config = loadProxyConfig(flags);
      } catch (err) {
        process.stderr.write(`sluice proxy: invalid configuration: ${(err as Error).message}\n`);
        process.exitCode = 2;
        return;
      }
      let proxy: ProxyHandle;
      try {
        proxy = await startProxy(config);
      } catch (err) {
        // A credentials file missing, a port in use: one line, not a stack trace.
        // startProxy closed what it had opened; exit now all the same, so that a handle nobody
        // thought of cannot keep a proxy that never became ready alive (no restart, no error).
        process.stderr.write(`sluice proxy: could not start: ${(err as Error).message}\n`);
        process.exit(1);
      }
      for (const d of config.droppedSettings ?? [])
        proxy.log.warn(
          { file: config.policyFile, ...d },
          'policy setting left out: this sidecar cannot use it',
        );
      let draining = false;
      const stop = (signal: string): void => {
        if (draining) {
          // A repeated SIGTERM (a pod deleted again with a shorter grace period) must not cut the
          // drain short: Node's default action would kill the process mid-request. The kubelet's
          // SIGKILL still ends it. A second Ctrl-C is a person who wants out now.
          proxy.log.warn({ signal }, 'signal received while draining');
          if (signal === 'SIGINT') void flushLog(proxy.log).then(() => process.exit(130));
          return;
        }
        draining = true;
        proxy.log.info({ signal }, 'signal received');
        void proxy.shutdown().then(() => process.exit(0));
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });
}
