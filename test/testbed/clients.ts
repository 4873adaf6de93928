/**
 * Real third-party S3 clients for compatibility tests, from Debian: the AWS CLI, boto3 and
 * rclone. Each runs with an explicit environment so nothing from ~/.aws, ~/.config/rclone or the
 * developer's shell (pyenv shims, AWS_PROFILE, ...) leaks into a test.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where and as whom a client talks S3. */
export interface S3Target {
  /** e.g. http://127.0.0.1:PORT (path-style addressing is used throughout). */
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** Default us-east-1. */
  region?: string;
}

/** Outcome of one client run. `code` is null when the process was killed (e.g. timeout). */
export interface ClientResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Options common to every client run. */
export interface RunOptions {
  /** Kill the client (SIGKILL) after this long; default 60 s. */
  timeoutMs?: number;
  /** Bytes written to the client's stdin (e.g. `aws s3 cp - s3://b/k`). */
  input?: string | Buffer;
  /** Working directory (for relative file paths in cp commands). */
  cwd?: string;
}

/** Debian's binaries, by absolute path: `aws` on PATH may be a pyenv shim without awscli. */
export const CLIENT_BINARIES = {
  aws: '/usr/bin/aws',
  python3: '/usr/bin/python3',
  rclone: '/usr/bin/rclone',
} as const;

/**
 * Runs `file args` with exactly `env` (plus a throwaway HOME), bounded by the timeout. Never
 * rejects for a non-zero exit: the result carries the code for the test to assert on.
 */
export function runClient(
  file: string,
  args: string[],
  env: Record<string, string>,
  opts: RunOptions = {},
): Promise<ClientResult> {
  const home = mkdtempSync(join(tmpdir(), 'sluice-client-'));
  return new Promise<ClientResult>((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: opts.cwd ?? home,
      env: { PATH: '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 60_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {}); // the client may exit before reading its input
    child.stdin.end(opts.input ?? '');
    child.once('error', (e) => {
      clearTimeout(timer);
      rmSync(home, { recursive: true, force: true });
      reject(
        new Error(`cannot run ${file} (run \`make testbed\` / scripts/testbed/debian.sh): ${e.message}`),
      );
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      rmSync(home, { recursive: true, force: true });
      resolve({
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    });
  });
}

/** Credential environment shared by the AWS CLI and boto3 (botocore reads the same variables). */
function awsEnv(t: S3Target): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: t.accessKeyId,
    AWS_SECRET_ACCESS_KEY: t.secretAccessKey,
    ...(t.sessionToken ? { AWS_SESSION_TOKEN: t.sessionToken } : {}),
    AWS_DEFAULT_REGION: t.region ?? 'us-east-1',
    AWS_CONFIG_FILE: '/nonexistent/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
  };
}

/**
 * Runs the AWS CLI v2 (`/usr/bin/aws --endpoint-url <endpoint> ...args`), e.g.
 * `awsCli(t, ['s3', 'ls', 's3://bucket'])` or `awsCli(t, ['s3api', 'head-object', ...])`.
 */
export function awsCli(t: S3Target, args: string[], opts?: RunOptions): Promise<ClientResult> {
  return runClient(
    CLIENT_BINARIES.aws,
    ['--endpoint-url', t.endpoint, '--no-cli-pager', ...args],
    awsEnv(t),
    opts,
  );
}

/** Prepended to boto3 scripts: builds `s3`, a path-style SigV4 client for the target. */
const BOTO3_PRELUDE = `
import os, sys, json, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=os.environ["SLUICE_S3_ENDPOINT"],
    config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                  retries={"max_attempts": 1, "mode": "standard"}))
`;

/**
 * Runs a Python 3 snippet with boto3 (Debian's /usr/bin/python3), where `s3` is a ready client
 * for the target (path-style, SigV4, no retries), and `os`, `sys`, `json` are imported. Example:
 * `boto3(t, 's3.put_object(Bucket="b", Key="k", Body=b"x"); print("ok")')`. An uncaught Python
 * exception gives a non-zero code with the traceback on stderr.
 */
export function boto3(t: S3Target, code: string, opts?: RunOptions): Promise<ClientResult> {
  return runClient(
    CLIENT_BINARIES.python3,
    ['-c', BOTO3_PRELUDE + code],
    { ...awsEnv(t), SLUICE_S3_ENDPOINT: t.endpoint },
    opts,
  );
}

/**
 * Runs rclone with the remote `s3:` configured for the target purely by environment
 * (RCLONE_CONFIG_S3_*; no config file), e.g. `rclone(t, ['lsf', 's3:bucket'])`.
 * `provider` defaults to Other (generic S3), the fair setting for testing a proxy.
 */
export function rclone(
  t: S3Target,
  args: string[],
  opts?: RunOptions & { provider?: string },
): Promise<ClientResult> {
  const env: Record<string, string> = {
    RCLONE_CONFIG: '/nonexistent/rclone.conf',
    RCLONE_CONFIG_S3_TYPE: 's3',
    RCLONE_CONFIG_S3_PROVIDER: opts?.provider ?? 'Other',
    RCLONE_CONFIG_S3_ENV_AUTH: 'false',
    RCLONE_CONFIG_S3_ACCESS_KEY_ID: t.accessKeyId,
    RCLONE_CONFIG_S3_SECRET_ACCESS_KEY: t.secretAccessKey,
    ...(t.sessionToken ? { RCLONE_CONFIG_S3_SESSION_TOKEN: t.sessionToken } : {}),
    RCLONE_CONFIG_S3_ENDPOINT: t.endpoint,
    RCLONE_CONFIG_S3_REGION: t.region ?? 'us-east-1',
    RCLONE_CONFIG_S3_FORCE_PATH_STYLE: 'true',
  };
  return runClient(
    CLIENT_BINARIES.rclone,
    ['--low-level-retries', '1', '--retries', '1', ...args],
    env,
    opts,
  );
}
