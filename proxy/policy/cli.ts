/**
 * `sluice policy check --config FILE METHOD URL [-H 'Name: value']…` — what the proxy would
 * decide for one request, without sending it anywhere. It runs the request path's own parse
 * (proxy/s3/target.ts, presign parameters stripped) and the same authorizer the proxy builds.
 *
 * Exit code: 0 allow, 1 deny, 2 usage or config error. Output (stdout), one `field: value` per line:
 * decision, operation, store / grant (the matched grants' `source`) or reason / message, plus the
 * follow-up checks: for DeleteObjects, that every key of the body is checked when it arrives; for
 * ListBuckets, the bucket names the response is filtered to.
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { resolveBalancerOptions } from '../balancer/config.ts';
import { BalancerError } from '../balancer/errors.ts';
import { ConfigError, parseDocumentText, parseProxyConfig } from '../config/parse.ts';
import { ProxyError } from '../errors.ts';
import { parseTarget } from '../s3/target.ts';
import { stripPresignParams } from '../sigv4/client-auth.ts';
import { PolicyValidationError } from './errors.ts';
import { createAuthorizer } from './index.ts';
import type { Decision } from './index.ts';

/** The inputs of one check, already read from the command line. */
export interface CheckInput {
  /** Text of the proxy config or policy document, and its path (for messages and relative paths). */
  configText: string;
  configFile: string;
  method: string;
  /** `http://host[:port]/path?query` or an origin-form target `/path?query`. */
  url: string;
  /** `Name: value` strings. */
  headers: readonly string[];
}

/** What `check` prints and exits with. */
export interface CheckOutput {
  exitCode: 0 | 1 | 2;
  text: string;
}

function usage(message: string): CheckOutput {
  return { exitCode: 2, text: `error: ${message}\n` };
}

/** Renders one decision as `field: value` lines. */
export function renderDecision(d: Decision, bucket: string | undefined, key: string | undefined): string {
  const lines = [`decision: ${d.allow ? 'allow' : 'deny'}`, `operation: ${d.operation}`];
  if (bucket !== undefined) lines.push(`bucket: ${bucket}`);
  if (key !== undefined) lines.push(`key: ${key}`);
  if (d.allow) {
    lines.push(
      `store: ${d.store}`,
      `grant: ${d.matched.length > 0 ? d.matched.join(', ') : '(none needed)'}`,
    );
    if (d.bodyCheck) {
      lines.push(`then: ${d.bodyCheck.describe}`);
    }
    if (d.listBuckets) {
      lines.push(
        `then: the ListBuckets response is filtered to: ${[...d.listBuckets].sort().join(', ') || '(nothing)'}`,
      );
    }
  } else {
    lines.push(`reason: ${d.reason}`, `error: ${d.status} ${d.s3Code}`, `message: ${d.message}`);
  }
  return lines.join('\n') + '\n';
}

/** Runs one check. Pure apart from nothing: the caller reads files and prints. */
export function check(input: CheckInput): CheckOutput {
  const method = input.method.toUpperCase();
  if (!/^[A-Z]+$/.test(method)) return usage(`not an HTTP method: ${input.method}`);
  const headers: Record<string, string> = {};
  for (const h of input.headers) {
    const colon = h.indexOf(':');
    if (colon <= 0) return usage(`header must be 'Name: value': ${h}`);
    headers[h.slice(0, colon).trim().toLowerCase()] = h.slice(colon + 1).trim();
  }
  let target = input.url;
  const abs = /^https?:\/\/([^/?#]+)(.*)$/i.exec(target);
  if (abs) {
    headers.host ??= abs[1]!;
    target = abs[2] || '/';
  }
  if (!target.startsWith('/')) return usage(`URL must be http://host/path or /path: ${input.url}`);
  headers.host ??= '127.0.0.1:7480';

  let authorizer;
  let domains: readonly string[];
  try {
    const config = parseProxyConfig({
      config: parseDocumentText(input.configText, input.configFile),
      configDir: dirname(input.configFile),
    });
    domains = config.virtualHostDomains;
    authorizer = createAuthorizer(config.policy, { virtualHostDomains: domains });
    // What `sluice proxy` checks before it starts, so that a config it refuses is not "allow".
    for (const store of config.policy.stores) resolveBalancerOptions(store);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof PolicyValidationError || err instanceof BalancerError)
      return usage(`${input.configFile}: ${err.message}`);
    throw err;
  }

  let parsed;
  try {
    parsed = parseTarget(target, headers.host, domains);
  } catch (err) {
    if (!(err instanceof ProxyError)) throw err;
    const text = [
      'decision: deny',
      'operation: Unknown',
      'reason: bad-target',
      `error: ${err.spec.status} ${err.spec.code}`,
      `message: ${err.message}`,
    ].join('\n');
    return { exitCode: 1, text: text + '\n' };
  }
  stripPresignParams(parsed.query);
  const d = authorizer.authorize({
    method,
    bucket: parsed.bucket,
    key: parsed.key,
    query: parsed.query,
    headers,
    rawTarget: target,
  });
  return { exitCode: d.allow ? 0 : 1, text: renderDecision(d, parsed.bucket, parsed.key) };
}

/** Registers `sluice policy check`. */
export function registerPolicyCommand(program: Command): void {
  const policy = program.command('policy').description('Explain what a policy allows');
  policy
    .command('check')
    .description('Print what the proxy would decide for one request (exit 0 allow, 1 deny, 2 usage error)')
    .requiredOption('--config <file>', 'proxy config or policy document (YAML or JSON)')
    .option(
      '-H, --header <header>',
      "request header 'Name: value' (repeatable)",
      (v: string, acc: string[]) => [...acc, v],
      [],
    )
    .argument('<method>', 'HTTP method')
    .argument('<url>', 'http://127.0.0.1:7480/bucket/key?query or /bucket/key?query')
    // Usage errors exit 2 (1 means "deny"); help and version exit 0.
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
    .action((method: string, url: string, opts: { config: string; header: string[] }) => {
      const file = resolve(opts.config);
      let configText: string;
      try {
        configText = readFileSync(file, 'utf8');
      } catch (err) {
        process.stderr.write(`error: cannot read ${file}: ${(err as Error).message}\n`);
        process.exitCode = 2;
        return;
      }
      const out = check({ configText, configFile: file, method, url, headers: opts.header });
      (out.exitCode === 2 ? process.stderr : process.stdout).write(out.text);
      process.exitCode = out.exitCode;
    });
}
