import { availableParallelism } from 'node:os';
import { z } from 'zod';

/** How the host authenticates to an upstream MCP server. Only where to find the secret is configured here. */
const UpstreamAuthSchema = z.union([
  z.strictObject({ bearerEnv: z.string().min(1) }),
  z.strictObject({ bearerFile: z.string().min(1) }),
  z
    .strictObject({
      tokenUrl: z.url(),
      clientId: z.string().min(1),
      clientSecretEnv: z.string().min(1).optional(),
      clientSecretFile: z.string().min(1).optional(),
      scope: z.string().min(1).optional(),
    })
    .refine((a) => (a.clientSecretEnv === undefined) !== (a.clientSecretFile === undefined), 'needs exactly one of clientSecretEnv and clientSecretFile'),
]);

/** A server's name is its key in `tools.<name>` and in the declarations: a plain identifier. */
const UPSTREAM_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
// The shared members of the declarations' `Tools` namespace (src/upstream/declarations.ts), beside which each server has its own.
const RESERVED_UPSTREAM_NAMES = new Set(['BinaryPart', 'TextResourcePart', 'ResourceLink', 'Content', 'ServerInfo', 'ToolInfo', 'Servers', 'ArgsOf', 'AnswerOf']);

export const UpstreamServerSchema = z
  .strictObject({
    name: z
      .string()
      .regex(UPSTREAM_NAME, 'letters, digits or underscore, not starting with a digit, at most 64')
      .refine((n) => !RESERVED_UPSTREAM_NAMES.has(n), { error: (issue) => `"${String(issue.input)}" is a name the declarations use themselves (Tools.${String(issue.input)}); choose another` }),
    url: z.url().optional(),
    command: z.string().min(1).optional(),
    args: z.array(z.string()).default([]),
    env: z.record(z.string(), z.string()).default({}),
    headers: z.record(z.string(), z.string()).default({}),
    auth: UpstreamAuthSchema.optional(),
    allow: z.strictObject({ subjects: z.array(z.string().min(1)).default([]), scopes: z.array(z.string().min(1)).default([]) }).optional(),
  })
  .refine((s) => (s.url === undefined) !== (s.command === undefined), 'needs exactly one of url (Streamable HTTP) and command (stdio)');

export type UpstreamServerConfig = z.output<typeof UpstreamServerSchema>;

/** `name=url`, the flag's form, as the object it stands for; `name` alone is then missing its url. */
function upstreamShorthand(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const eq = value.indexOf('=');
  return eq < 0 ? { name: value } : { name: value.slice(0, eq), url: value.slice(eq + 1) };
}

/** A JWK Set as an operator writes it into the config: public keys, checked further when the server starts. */
const JwksSchema = z.strictObject({ keys: z.array(z.record(z.string(), z.unknown())).min(1) });

/** An `oauth.clients` value: a secret's hash, a key-set URL (both as strings), or a key set or its URL as an object. */
const ConfiguredClientSchema = z.union([z.string().min(1), z.strictObject({ jwks: JwksSchema }), z.strictObject({ jwksUri: z.url() })]);

/** An identity provider whose ID-JAGs the built-in server honours (enterprise-managed authorization). */
const EnterpriseIdpSchema = z
  .strictObject({
    issuer: z.string().min(1),
    jwksUri: z.url().optional(),
    jwks: JwksSchema.optional(),
    clients: z.array(z.string().min(1)).min(1),
    scopes: z.array(z.string().min(1)).optional(),
    subjectPrefix: z.string().optional(),
  })
  .refine((i) => (i.jwksUri === undefined) !== (i.jwks === undefined), 'needs exactly one of jwksUri and jwks');

/** `<issuer> <jwksUri> <client> [<client> …]`, the flag's form, as the object it stands for. */
function idpShorthand(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const [issuer, jwksUri, ...clients] = value.trim().split(/\s+/);
  return { issuer, jwksUri, clients };
}

/**
 * Every setting raftbox reads, in one schema. Flags, `RAFTBOX_*` variables and config-file keys are all
 * derived from it (see sources.ts), and the configuration reference is generated from its descriptions.
 * A leaf may carry `.meta({ flag: 'name' })` when its flag must differ from the derived kebab-case path,
 * and `.meta({ secretFile: true })` when it is a secret: then `--<flag>-file <path>` and `<VAR>_FILE` read
 * it from a file, so it need not appear in `ps` or the environment.
 */
export const ConfigSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1').describe('Address the HTTP server listens on.'),
  port: z.number().int().min(0).max(65535).default(3000).describe('HTTP port (0 picks a free port). `PORT` is honoured too.'),
  dataDir: z.string().min(1).default('./data').describe('Directory of the node\'s LevelDB data (replicated state, Raft log).'),
  nodeId: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, dot, dash or underscore, at most 64')
    .default('n1')
    .describe('This node\'s id in the cluster; stamped on the executions it runs.'),
  logLevel: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('Log level of the JSON logs (stdout for `serve`, stderr for `stdio`).'),
  metricsPublic: z
    .boolean()
    .optional()
    .describe('Serve `GET /metrics` without a bearer token when OAuth is on (with it off, /metrics is always open). Default: true when `host` is a loopback address, else false (then it needs a `raftbox:read` token).'),
  shutdownGraceSecs: z
    .number()
    .min(0)
    .default(20)
    .describe('On SIGTERM, how long running executions may take to finish before they are stopped and failed with "node shutting down".'),

  maxMemoryMb: z
    .number()
    .int()
    .min(8)
    .default(512)
    .describe('Largest `heap_memory_max_mb` a call may ask for (a call that gives none gets 64); larger is refused, not clamped.'),
  maxTimeoutSecs: z
    .number()
    .positive()
    .default(300)
    .describe('Largest `execution_timeout_secs` a call may ask for (a call that gives none gets 30); larger is refused, not clamped.'),
  maxConcurrent: z
    .number()
    .int()
    .min(1)
    .default(() => availableParallelism())
    .describe('Stateless runs executing at once (default: the number of CPU cores).'),
  maxQueue: z.number().int().min(0).default(1024).describe('Runs waiting for a free isolate; beyond it calls are refused with 429 and Retry-After.'),
  maxOutputBytes: z.number().int().min(1024).default(1 << 20).describe('UTF-8 bytes an execution may hand out in all (console, result, error message and stack); the rest is cut and marked.'),
  maxArtifactBytes: z
    .number()
    .int()
    .min(0)
    .default(16 << 20)
    .describe('Bytes of artifacts one execution may attach (`artifact(...)`, a Blob or `{ mimeType, data }` result); past it `artifact` throws a RangeError in the code.'),
  maxInputBytes: z
    .number()
    .int()
    .min(0)
    .default(8 << 20)
    .describe('Bytes of `inputs` one execution may be handed (JSON values as text, files decoded): in a JSON body within the request body limit, as `multipart/form-data` beside it; more is refused with 413.'),
  maxBodyBytes: z.number().int().min(1024).default(1 << 20).describe('Largest HTTP request body (code included); larger is refused with 413.'),
  maxExecutions: z.number().int().min(1).default(10_000).describe('Finished execution records kept; the oldest are forgotten first.'),
  maxExecutionsMb: z.number().int().min(1).default(128).describe('Total size (as JSON) of the finished execution records kept; past it the oldest are forgotten first.'),
  maxRecordedBytes: z
    .number()
    .int()
    .min(1024)
    .default(8 << 20)
    .describe("Bytes a step's recorded host-call answers (`fetch` responses: status, headers, body) may take in all; a session step commits them with its journal entry. An answer that would pass it fails its call inside the sandbox with a clear error; a record is never cut."),
  maxLiveSessions: z.number().int().min(0).default(10_000).describe('Warm session isolates kept in memory (beyond it the least recently used are evicted, those far cheaper to rebuild first, and rebuilt by replay when needed). Usually maxLiveSessionsMemoryMb decides first: a warm session holds ~2 MB of heap in memory. On Linux it is also capped at what vm.max_map_count allows (each isolate holds ~14 memory maps; 3,510 at the kernel default of 65,530), since past that V8 cannot map a new isolate and aborts the process; the node logs the cap when it applies.'),
  sessionStandbys: z
    .enum(['held', 'all', 'off'])
    .default('held')
    .describe(
      'Warm standbys: `held` (default) keeps the sessions warm on this node current as other nodes step them, replaying their steps in the background (the replay their next step here would do, done before it comes); `all` also builds, in the background, every session another node steps (a failover standby for each active session, at the cost of running every step on every node, within the warm-session memory budget); `off` replays only when a step arrives. In `held` and `all` a starting node also rebuilds its recently stepped sessions in the background, most recent first.',
    ),
  sessionsPerIsolate: z
    .number()
    .int()
    .min(1)
    .max(64)
    .default(1)
    .describe(
      'Sessions of one subject whose contexts share an isolate (1, the default: every session has an isolate of its own). A context costs ~0.3 MB resident and an isolate ~1.5 MB more, so sharing holds several times as many idle sessions warm in the same memory and memory maps. What it gives up (docs/scaling.md): the sessions of an isolate share one heap and its memory limit, their steps run one at a time (a step awaiting `fetch` holds up the others), and a limit one step hits stops the isolate under all of them (each is then rebuilt from its journal on its next step; no step is lost). Sessions of different subjects never share.',
    ),
  maxLiveSessionsMemoryMb: z.number().int().min(0).optional().describe('Heap the warm session isolates may hold in memory in all (its physical pages, measured after each step); beyond it the least recently used are evicted, those far cheaper to rebuild first. Default: a quarter of the memory this process may use (its cgroup limit, else the machine\'s memory).'),
  sessionTtlSecs: z
    .number()
    .min(0)
    .default(30 * 24 * 3600)
    .meta({ flag: 'session-ttl' })
    .describe('Seconds a named session may stay without a step before it expires (deleted through Raft, its states collected once nothing else holds them); 0 keeps sessions forever. Default 30 days.'),
  raftLogMb: z.number().int().min(1).default(64).describe('Bytes of Raft log entries held (in memory and in `<dataDir>/raft`) before a snapshot compacts them; a lower value bounds memory for large steps, at the cost of more snapshots.'),
  stateCacheMb: z.number().int().min(1).default(32).describe('Memory for the cold part of the replicated state (session steps, execution output), which lives on disk; recently read and written values are kept in this cache.'),

  packages: z
    .array(z.string().min(1))
    .default([])
    .describe('npm packages the sandbox may import, as `name`, `name@range` or a subpath (`date-fns/locale`), comma-separated. Each is bundled at start from `packagesDir`; one that needs a native addon, `fs`, `child_process` or the network is refused at start. Node built-ins are always available.'),
  packagesDir: z
    .string()
    .min(1)
    .optional()
    .describe('Directory the approved packages are installed in (it holds `node_modules/`, e.g. after `npm install --prefix <dir> lodash`). Default: raftbox\'s own dependency tree. Bundles are kept in `<dataDir>/bundles`.'),

  egress: z
    .strictObject({
      allow: z
        .array(z.string().min(1))
        .default([])
        .describe('Requests the sandbox\'s `fetch` may make, as rules `[subject=<s>] [scope=<s>] [METHOD,…] scheme://host[:port][/path]`, comma-separated: host a name, `*.example.com`, `*`, an IP (`127.0.0.1`, `[::1]`) or a CIDR range (`10.0.0.0/8`); port a number or `*` (absent: the scheme\'s default); path a prefix. No rule: `fetch` rejects. Private, loopback, link-local (cloud metadata), multicast and the cluster\'s own addresses are refused unless an IP or CIDR rule names them. See docs/egress.md.'),
      inject: z
        .array(z.string().min(1))
        .default([])
        .describe('Headers added on the host to requests a URL pattern matches: `<pattern> <Header>: <value>`, the value may hold `{env:NAME}`, `{file:/path}` or `{oauth:NAME}` (a token of `egress.oauthClients`) (e.g. `https://api.example.com/v1 Authorization: Bearer {env:API_TOKEN}`). The values never reach the sandbox, the journal or the logs.'),
      oauthClients: z
        .record(z.string(), z.string())
        .default({})
        .describe('OAuth client-credentials token sources for `egress.inject` (`{oauth:NAME}` in a value), as NAME=`<token endpoint URL> <client id> <client secret> [scope …]`; the secret may be `{env:NAME}` or `{file:/path}`. The host gets the token (client_secret_basic) and renews it before it expires.'),
      timeoutSecs: z.number().positive().default(30).describe('Time one `fetch` may take, redirects and the whole body included; then it fails inside the sandbox.'),
      maxResponseBytes: z.number().int().min(1024).default(2 << 20).describe('Largest response body (and request body) of one `fetch`; a larger one fails the call inside the sandbox.'),
      maxConcurrent: z.number().int().min(1).default(16).describe('`fetch` calls one step may have in flight at once; one more fails at once.'),
      maxRequests: z.number().int().min(1).default(256).describe('`fetch` calls one step may make in all; one more fails at once.'),
    })
    .prefault({})
    .describe('Network egress of the sandbox (`fetch`): off unless a rule allows it.'),

  mcpServers: z
    .array(z.preprocess(upstreamShorthand, UpstreamServerSchema))
    .default([])
    .meta({ flag: 'mcp-server' })
    .superRefine((servers, ctx) => {
      const seen = new Set<string>();
      for (const [i, s] of servers.entries()) {
        if (seen.has(s.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `"${s.name}" is named twice` });
        seen.add(s.name);
      }
    })
    .describe('Upstream MCP servers whose tools the sandbox may call (`mcp.callTool`, `tools.<server>.<tool>`): `name=url` for Streamable HTTP (the flag may be repeated), or in the config file objects with `name`, `url` or `command`/`args`/`env` (stdio), `headers`, `auth` (`{"bearerEnv": "VAR"}`, `{"bearerFile": "/path"}` or `{"tokenUrl", "clientId", "clientSecretEnv"|"clientSecretFile", "scope"}` for OAuth client credentials) and `allow` (`{"subjects": [...], "scopes": [...]}`: who may call it when OAuth is on). See docs/code-mode.md.'),
  upstreamCallTimeoutSecs: z.number().positive().default(60).describe('Time one upstream tool call from the sandbox may take; then it fails inside the sandbox.'),
  maxUpstreamCalls: z.number().int().min(1).default(1000).describe('Upstream tool calls one step may make in all; one more fails at once.'),

  peers: z
    .record(z.string(), z.url())
    .default({})
    .describe('Cluster members as id=baseUrl, e.g. `n1=http://10.0.0.1:3000,n2=http://10.0.0.2:3000`. Empty: a single-node cluster.'),
  clusterSecret: z
    .string()
    .min(16)
    .optional()
    .meta({ secretFile: true })
    .describe('Shared secret that authenticates node-to-node Raft traffic and membership changes (required with peers; at least 16 characters).'),
  join: z
    .boolean()
    .default(false)
    .describe('Start outside the membership and wait to be added by the running cluster (`raftbox members add`); use with peers.'),
  // How a node meets browsers and its supervisor.
  corsOrigins: z
    .array(z.union([z.literal('*'), z.url().refine((u) => new URL(u).origin === u, 'must be an origin: scheme://host[:port], no path')]))
    .default([])
    .describe('Origins whose browser pages may call /mcp, /api and /oauth (CORS), e.g. `https://app.example.com`; `*` for any. Default: none.'),
  exitWithStdin: z
    .boolean()
    .default(false)
    .describe('Shut down when stdin closes, as one of a whole cluster stopping (no leadership hand-off): how `raftbox cluster` stops its nodes, and makes them end with it even when it is killed with SIGKILL.'),
  quota: z
    .strictObject({
      liveSessions: z.number().int().min(0).default(0).describe('Named sessions a subject may have (0: no limit); a step that would start one more is refused with 403.'),
      stepsPerSession: z.number().int().min(0).default(0).describe('Steps a session may have (0: no limit); the next is refused with 403.'),
      storedMb: z.number().min(0).default(0).describe('Session state a subject may store, in MB (0: no limit); past it session steps are refused with 403 until sessions are deleted.'),
      concurrentRuns: z.number().int().min(0).default(0).describe('Runs of one subject at once on one node (0: no limit); more are refused with 429 and Retry-After.'),
      cpuSecsPerMinute: z.number().min(0).default(0).describe('CPU seconds one subject\'s runs may use per minute on one node (0: no limit); past it runs are refused with 429 and Retry-After.'),
    })
    .prefault({})
    .describe('Quotas per subject (the OAuth `sub`; one shared subject with OAuth off).'),
  oauth: z
    .strictObject({
      enabled: z.boolean().default(false).meta({ flag: 'oauth' }).describe('Require OAuth bearer tokens on /mcp and /api.'),
      issuer: z.url().optional().describe('Public origin of the cluster (same on every node): issuer of built-in tokens and their audience. Default: this node\'s URL.'),
      resource: z.url().optional().describe('Canonical resource URI (`aud` tokens must carry), an origin. Default: `oauth.issuer`.'),
      users: z.record(z.string(), z.string()).default({}).meta({ secretFile: true }).describe('Built-in server: users as username=passwordHash (hash from `raftbox hash-password`).'),
      clients: z
        .record(z.string(), ConfiguredClientSchema)
        .default({})
        .meta({ secretFile: true })
        .describe(
          'Built-in server: client_credentials machine clients as clientId=secretHash, or clientId=`<https URL of its JWK Set>` for one that authenticates with client assertions (private_key_jwt) instead of a secret; in the config file the value may also be `{"jwks": {"keys": [...]}}` or `{"jwksUri": "..."}`.',
        ),
      accessTokenTtlSecs: z.number().int().min(30).default(600).describe('Built-in server: lifetime of access tokens.'),
      refreshTokenTtlSecs: z.number().int().min(60).default(1_209_600).describe('Built-in server: lifetime of a refresh token (renewed by each rotation).'),
      clientMetadataDocuments: z
        .enum(['public', 'loopback', 'off'])
        .default('public')
        .describe(
          'Built-in server: accept https URLs as client ids (Client ID Metadata Documents), fetching each document from public addresses only (`public`); `loopback` also allows http and loopback addresses, for development and tests only; `off` refuses them. The same rule holds for the `jwks_uri` of registered and metadata-document clients (`off`: as `public`).',
        ),
      enterpriseIdps: z
        .array(z.preprocess(idpShorthand, EnterpriseIdpSchema))
        .default([])
        .meta({ flag: 'oauth-enterprise-idp' })
        .describe(
          'Built-in server: enterprise identity providers whose ID-JAGs (MCP enterprise-managed authorization) the jwt-bearer grant exchanges for access tokens, as `<issuer> <jwksUri> <client> [<client> …]` (the flag may be repeated; `*` for any client that authenticates), or in the config file objects with `issuer`, `jwksUri` or `jwks`, `clients`, `scopes` (the most its tokens may carry; default all) and `subjectPrefix` (put before its `sub`; default `<issuer>#`). See OAUTH.md.',
        ),
      providerUrl: z.url().optional().describe('External authorization server (issuer URL, e.g. a Keycloak realm); replaces the built-in one.'),
      clientId: z.string().optional().describe('External provider: our client id for token introspection.'),
      clientSecret: z.string().optional().meta({ secretFile: true }).describe('External provider: our client secret for token introspection.'),
      tokenFormat: z.enum(['jwt', 'introspection']).optional().describe('External provider: verify JWTs by its JWKS, or introspect. Default: introspection when a client secret is set.'),
      statusPageClientId: z
        .string()
        .optional()
        .describe(
          'External provider: a public client (no secret, PKCE) registered there for the status page, with each node\'s origin + `/` as redirect URI and its origin allowed for CORS; the page then signs users in at the provider. Without it the page asks for a pasted token.',
        ),
    })
    .prefault({})
    .describe('OAuth 2.1 protection of /mcp and /api.'),
}).superRefine((c, ctx) => {
  // A cluster node needs its own address among the peers (it is what the others reach it at) and
  // a secret: Raft traffic is never unauthenticated.
  const clustered = Object.keys(c.peers).length > 0;
  if (clustered && c.peers[c.nodeId] === undefined) {
    ctx.addIssue({ code: 'custom', path: ['peers'], message: `must include this node (node id "${c.nodeId}") with its own URL` });
  }
  if (clustered && c.clusterSecret === undefined) ctx.addIssue({ code: 'custom', path: ['clusterSecret'], message: 'is required when peers are given' });
  if (c.join && !clustered) ctx.addIssue({ code: 'custom', path: ['join'], message: 'needs peers (the cluster to join)' });
});

export type Config = z.output<typeof ConfigSchema>;
