/**
 * Node builtins the sidecar loads with `require`, not `import`. An ES import of a builtin builds
 * its namespace from every export, which runs the module's lazy getters: `import 'node:http'`
 * also loads tls, http2 and zlib — 69 builtin modules instead of 14, ~12 MiB more RSS in every
 * sidecar (Node 24; `require('node:http')` 47.4 MiB vs `import` 59.5 MiB in an empty process).
 * TLS is loaded only for https backends (proxy/http1/connection.ts): another ~6 MiB otherwise.
 * test/unit/proxy/runtime-deps.test.ts checks which builtins the sidecar loads.
 */
import { createRequire } from 'node:module';
import type * as Http from 'node:http';
import type * as Tls from 'node:tls';

const require = createRequire(import.meta.url);

/** node:http, without the lazy exports an ES import would evaluate. */
export const http = require('node:http') as typeof Http;

let tls: typeof Tls | undefined;

/** node:tls, loaded on first use (the first https backend connection). */
export function loadTls(): typeof Tls {
  tls ??= require('node:tls') as typeof Tls;
  return tls;
}
