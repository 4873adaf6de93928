/**
 * A real, distributed MinIO cluster on 127.0.0.1 for integration tests: N `minio server`
 * processes sharing one endpoint list (every node serves every object, like the VAST or Ceph
 * clusters Sluice fronts), each behind a delaying TCP relay so tests can slow or cut a node.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { binPath } from './bin.ts';
import { httpProbe, httpStatus } from './http.ts';
import { probeWrite, serverInfo } from './minio-admin.ts';
import { freePort } from './ports.ts';
import { spawnLogged, waitUntil } from './proc.ts';
import { makeTempDir, removeTempDir } from './tempdir.ts';
import type { Proc } from './proc.ts';
import { startRelay } from './relay.ts';
import type { Relay } from './relay.ts';

/** One MinIO node as clients see it. */
export interface MinioNode {
  readonly index: number;
  /** http://127.0.0.1:PORT of the node's relay: what clients (and Sluice) should use. */
  readonly url: string;
  /** The node's own address, bypassing the relay (for health probes; not slowed by setDelay). */
  readonly directUrl: string;
  /** The node's log file. */
  readonly logPath: string;
}

/** A running cluster; see {@link startMinioCluster}. */
export interface MinioCluster {
  readonly nodes: MinioNode[];
  /** The node urls (relays), in node order. */
  readonly endpoints: string[];
  readonly rootUser: string;
  readonly rootPassword: string;
  /** Always us-east-1. */
  readonly region: string;
  /** The temp dir holding drives and logs (removed by stop()). */
  readonly dir: string;
  /**
   * SIGTERM node i (SIGKILL after a grace period); its relay refuses connections at once. Resolves
   * once the live nodes see it offline (before that, MinIO has answered NoSuchKey for existing
   * objects through the others).
   */
  stopNode(i: number): Promise<void>;
  /** SIGKILL node i; otherwise like {@link MinioCluster.stopNode}. */
  killNode(i: number): Promise<void>;
  /**
   * Cuts node i off from its clients, as a network partition would: its relay refuses new
   * connections and resets open ones, while the MinIO process stays up and in the cluster (so
   * the other nodes keep full quorum). {@link MinioCluster.startNode} reconnects it.
   */
  cutNode(i: number): Promise<void>;
  /**
   * Restarts node i on its port; resolves once it is ready, every live node sees every live
   * node's drives online again, and its relay accepts connections.
   */
  startNode(i: number): Promise<void>;
  /** Added latency on node i's relay, both directions, existing and new connections; 0 = none. */
  setDelay(i: number, ms: number): void;
  /** Kills every node, closes the relays and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** Options for {@link startMinioCluster}. */
export interface MinioClusterOptions {
  /** Number of server processes (2..16); default 4. */
  nodes?: number;
  /** Drives per node; default 2 (8 drives, one erasure set, for 4 nodes). */
  drivesPerNode?: number;
  /** Test-bed cache root (see bin.ts); default ~/.cache/sluice. */
  cacheDir?: string;
  /** Bound on the wait for the cluster (and each restarted node) to be ready; default 90 s. */
  readyTimeoutMs?: number;
}

const REGION = 'us-east-1';

interface NodeState {
  index: number;
  port: number;
  relay: Relay;
  proc: Proc | undefined;
  logPath: string;
}

/**
 * Starts the cluster and resolves once `/minio/health/cluster` reports write quorum and every
 * node is ready. Throws (after stopping whatever it started) with the failing node's log tail.
 */
export async function startMinioCluster(opts: MinioClusterOptions = {}): Promise<MinioCluster> {
  // A port picked by freePort() can be taken by another process before MinIO binds it; the whole
  // start is retried when a node failed that way.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      if (attempt >= 3 || !/address already in use/i.test(String(err))) throw err;
    }
  }
}

async function startOnce(opts: MinioClusterOptions): Promise<MinioCluster> {
  const n = opts.nodes ?? 4;
  const drives = opts.drivesPerNode ?? 2;
  if (!Number.isInteger(n) || n < 2 || n > 16)
    throw new RangeError(`MinIO cluster needs 2..16 nodes, got ${n}`);
  if (n * drives < 4 || n * drives > 16)
    throw new RangeError(`nodes*drivesPerNode must be 4..16, got ${n * drives}`);
  const minio = binPath('minio', { cacheDir: opts.cacheDir });
  const timeoutMs = opts.readyTimeoutMs ?? 90_000;
  const dir = makeTempDir('sluice-minio-');
  const rootUser = 'sluiceadmin';
  const rootPassword = randomBytes(12).toString('hex');

  const states: NodeState[] = [];
  let stopped = false;

  const stopAll = async (): Promise<void> => {
    stopped = true;
    await Promise.all(
      states.map(async (s) => {
        await s.relay.close();
        await s.proc?.stop('SIGKILL');
      }),
    );
    removeTempDir(dir);
  };

  try {
    for (let i = 0; i < n; i++) {
      const port = await freePort();
      const relay = await startRelay({ target: { port }, port: await freePort() });
      states.push({ index: i, port, relay, proc: undefined, logPath: join(dir, `node${i}.log`) });
    }
    // Explicit endpoints (no ellipsis): dynamic ports are not consecutive. Same list, same order,
    // for every node — MinIO requires it.
    const endpoints: string[] = [];
    for (const s of states) {
      for (let d = 1; d <= drives; d++) {
        const path = join(dir, `n${s.index}`, `d${d}`);
        mkdirSync(path, { recursive: true });
        endpoints.push(`http://127.0.0.1:${s.port}${path}`);
      }
    }

    const spawnNode = (s: NodeState): Proc => {
      const env: Record<string, string> = {
        HOME: dir,
        PATH: '/usr/bin:/bin',
        MINIO_ROOT_USER: rootUser,
        MINIO_ROOT_PASSWORD: rootPassword,
        MINIO_CI_CD: '1', // skips the root-drive check: our drives share the root filesystem
        MINIO_BROWSER: 'off', // no console listener
        MINIO_UPDATE: 'off',
        MINIO_REGION: REGION,
        // In a container (/.dockerenv exists here) MinIO refuses loopback endpoints while it waits
        // for them to "resolve to a valid IP", unless told which endpoint host is itself.
        _MINIO_SERVER_LOCAL: `127.0.0.1:${s.port}`,
      };
      return spawnLogged(
        minio,
        [
          'server',
          '--quiet',
          '--anonymous',
          '--address',
          `127.0.0.1:${s.port}`,
          '--certs-dir',
          join(dir, 'certs'),
          ...endpoints,
        ],
        s.logPath,
        { env },
      );
    };

    const waitNodeReady = (s: NodeState): Promise<void> =>
      waitUntil(
        `MinIO node ${s.index} (127.0.0.1:${s.port})`,
        async () => {
          // /ready answers 200 before the object layer is up (it only adds this header), and S3
          // calls then fail with XMinioServerNotInitialized: wait for the header to go away.
          const r = await httpProbe(`http://127.0.0.1:${s.port}/minio/health/ready`);
          return r.status === 200 && r.headers['x-minio-server-status'] === undefined;
        },
        { timeoutMs, dead: () => s.proc?.exited ?? true, detail: () => s.proc?.tail() ?? '' },
      );

    const live = (): NodeState[] => states.filter((o) => o.proc !== undefined && !o.proc.exited);
    /**
     * Whether node `s` sees every drive of every live node as ok (admin server info). Its own
     * readiness is not enough: a node whose object layer is up may still see peers' drives as
     * offline for a moment (~1 s seen after a restart) and meanwhile answers GETs of existing
     * objects with NoSuchKey; likewise its peers may still see it as offline.
     */
    const seesAllLive = async (s: NodeState): Promise<boolean> => {
      const view = await serverInfo(`http://127.0.0.1:${s.port}`, {
        accessKeyId: rootUser,
        secretAccessKey: rootPassword,
      });
      const alive = live();
      return states.every((o) => {
        const server = view.find((v) => v.endpoint === `127.0.0.1:${o.port}`);
        const up =
          server !== undefined &&
          server.state === 'online' &&
          server.drives.length === drives &&
          server.drives.every((d) => d.state === 'ok');
        // A dead node must be seen as such too: right after a kill, reads through the others
        // have answered NoSuchKey for existing objects until they noticed.
        return alive.includes(o) ? up : !up;
      });
    };
    const allLogs = (): string =>
      states.map((o) => `[node ${o.index}]\n${o.proc?.tail(800) ?? ''}`).join('\n');
    /**
     * Waits until every live node sees every live node's drives online, and dead nodes offline.
     * With `observersMayFail`, a node that cannot answer (no quorum left after a kill: it cannot
     * serve S3 either, so it cannot serve a stale answer) does not hold the wait up.
     */
    const waitConverged = (what: string, observersMayFail = false): Promise<void> =>
      waitUntil(
        what,
        async () =>
          (
            await Promise.all(
              live().map((o) => (observersMayFail ? seesAllLive(o).catch(() => true) : seesAllLive(o))),
            )
          ).every(Boolean),
        { timeoutMs, detail: allLogs },
      );

    for (const s of states) s.proc = spawnNode(s);
    await Promise.all(states.map(waitNodeReady));
    await waitUntil(
      'MinIO cluster write quorum (/minio/health/cluster)',
      async () => (await httpStatus(`http://127.0.0.1:${states[0]!.port}/minio/health/cluster`)) === 200,
      {
        timeoutMs,
        detail: allLogs,
      },
    );
    await waitConverged('MinIO nodes seeing each other (admin server info)');
    // Health and server info can both be green while a node still answers writes with 503
    // SlowDownWrite for a moment (seen under load on 2 cores): end start-up with a real write
    // through every node, so no test's first PUT races the cluster settling.
    await waitUntil(
      'MinIO accepting writes on every node',
      async () => {
        await probeWrite(
          states.map((st) => `http://127.0.0.1:${st.port}`),
          rootUser,
          rootPassword,
        );
        return true;
      },
      { timeoutMs, detail: allLogs },
    );

    const node = (i: number): NodeState => {
      const s = states[i];
      if (!s) throw new RangeError(`no MinIO node ${i} (cluster has ${n})`);
      return s;
    };
    const nodes: MinioNode[] = states.map((s) => ({
      index: s.index,
      url: s.relay.url,
      directUrl: `http://127.0.0.1:${s.port}`,
      logPath: s.logPath,
    }));

    return {
      nodes,
      endpoints: nodes.map((x) => x.url),
      rootUser,
      rootPassword,
      region: REGION,
      dir,
      async stopNode(i) {
        const s = node(i);
        await s.relay.pause();
        await s.proc?.stop('SIGTERM', 15_000);
        await waitConverged(`MinIO nodes noticing node ${i} stopped`, true);
      },
      async killNode(i) {
        const s = node(i);
        await s.relay.pause();
        await s.proc?.stop('SIGKILL');
        await waitConverged(`MinIO nodes noticing node ${i} killed`, true);
      },
      async cutNode(i) {
        await node(i).relay.pause();
      },
      async startNode(i) {
        const s = node(i);
        if (stopped) throw new Error('MinIO cluster already stopped');
        if (s.proc && !s.proc.exited) {
          await s.relay.resume();
          return;
        }
        s.proc = spawnNode(s);
        await waitNodeReady(s);
        await waitConverged(`MinIO node ${i} rejoining (every live node sees every live drive)`);
        await s.relay.resume();
      },
      setDelay(i, ms) {
        node(i).relay.setDelay(ms);
      },
      async stop() {
        if (stopped) return;
        await stopAll();
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
