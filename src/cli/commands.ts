// The subcommands of `raftbox`: what each is for, and where its code and help live. Each is imported
// only when it runs (or prints its help), so `raftbox run --help` never loads the server.

export interface Command {
  name: string;
  /** One line for the overview. */
  summary: string;
  /** Its usage and the options that apply to it (and only those). */
  help(): Promise<string>;
  run(argv: string[]): Promise<number>;
}

const serveHelp = async (which: 'serve' | 'stdio') => (await import('./help.ts')).nodeHelp(which);

export const COMMANDS: readonly Command[] = [
  {
    name: 'serve',
    summary: 'start a node: MCP at POST /mcp, REST at /api, status page at /, health at /healthz (the default command)',
    help: () => serveHelp('serve'),
    run: async (argv) => (await import('./serve-command.ts')).serve(argv),
  },
  {
    name: 'stdio',
    summary: 'serve the MCP tools over stdin/stdout to one client (logs go to stderr)',
    help: () => serveHelp('stdio'),
    run: async (argv) => (await import('./serve-command.ts')).stdio(argv),
  },
  {
    name: 'cluster',
    summary: 'a local cluster of nodes as child processes (and nginx in front where installed)',
    help: async () => (await import('../cluster/local-cluster.ts')).CLUSTER_HELP,
    run: async (argv) => {
      const { parseClusterArgs, runLocalCluster } = await import('../cluster/local-cluster.ts');
      return runLocalCluster(parseClusterArgs(argv));
    },
  },
  {
    name: 'members',
    summary: 'show or change a running cluster\'s membership',
    help: async () => (await import('../cluster/members-command.ts')).MEMBERS_HELP,
    run: async (argv) => (await import('../cluster/members-command.ts')).membersCommand(argv),
  },
  {
    name: 'run',
    summary: 'run a file (or stdin) on a server and print its result and console output',
    help: async () => (await import('./client/run-command.ts')).RUN_HELP,
    run: async (argv) => (await import('./client/run-command.ts')).runCommand(argv),
  },
  {
    name: 'executions',
    summary: 'list, show, read the output of, or cancel executions on a server',
    help: async () => (await import('./client/records-commands.ts')).EXECUTIONS_HELP,
    run: async (argv) => (await import('./client/records-commands.ts')).executionsCommand(argv),
  },
  {
    name: 'sessions',
    summary: 'list, show or delete sessions on a server',
    help: async () => (await import('./client/records-commands.ts')).SESSIONS_HELP,
    run: async (argv) => (await import('./client/records-commands.ts')).sessionsCommand(argv),
  },
  {
    name: 'login',
    summary: 'sign in to an OAuth-protected server in the browser and cache the token for the client commands',
    help: async () => (await import('./client/login-command.ts')).LOGIN_HELP,
    run: async (argv) => (await import('./client/login-command.ts')).loginCommand(argv),
  },
  {
    name: 'logout',
    summary: 'forget the cached token of a server',
    help: async () => (await import('./client/login-command.ts')).LOGOUT_HELP,
    run: async (argv) => (await import('./client/login-command.ts')).logoutCommand(argv),
  },
  {
    name: 'hash-password',
    summary: 'print the scrypt hash of a password read from stdin or a prompt, for --oauth-users / --oauth-clients',
    help: async () => (await import('./hash-password.ts')).HASH_PASSWORD_HELP,
    run: async (argv) => (await import('./hash-password.ts')).hashPasswordCommand(argv),
  },
];

export function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `raftbox — runs JavaScript/TypeScript for AI agents in isolated V8 sandboxes, over MCP and REST

Usage: raftbox <command> [options]     (no command: serve)

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

\`raftbox <command> --help\` lists the options of a command. From a clone, run it as \`npx raftbox …\`
(or install it on the PATH with \`npm link\`, or \`npm install -g .\`).
`;
}
