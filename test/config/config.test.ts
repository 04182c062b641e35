import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, SETTINGS } from '../../src/config/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'raftbox-config-'));
const file = (data: unknown) => {
  const path = join(dir, `c${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, typeof data === 'string' ? data : JSON.stringify(data));
  return path;
};

describe('configuration', () => {
  it('has the documented defaults', () => {
    const c = loadConfig([], {});
    expect(c).toMatchObject({ host: '127.0.0.1', port: 3000, dataDir: './data', nodeId: 'n1', peers: {}, oauth: { enabled: false } });
  });

  it('takes flags over RAFTBOX_ env over the config file over defaults', () => {
    const path = file({ port: 4001, host: '0.0.0.0', maxQueue: 7, nodeId: 'from-file' });
    const env = { RAFTBOX_PORT: '4002', RAFTBOX_MAX_QUEUE: '8' };
    const c = loadConfig(['--config', path, '--port', '4003'], env);
    expect(c.port).toBe(4003);
    expect(c.maxQueue).toBe(8);
    expect(c.host).toBe('0.0.0.0');
    expect(c.nodeId).toBe('from-file');
    expect(c.maxMemoryMb).toBe(512);
  });

  it('honours PORT below RAFTBOX_PORT', () => {
    expect(loadConfig([], { PORT: '5000' }).port).toBe(5000);
    expect(loadConfig([], { PORT: '5000', RAFTBOX_PORT: '5001' }).port).toBe(5001);
    expect(loadConfig(['--port=5002'], { PORT: '5000' }).port).toBe(5002);
  });

  it('reads numbers, booleans, maps and nested keys from text sources', () => {
    const c = loadConfig(['--oauth', '--peers', 'n1=http://127.0.0.1:7101,n2=http://127.0.0.1:7102', '--cluster-secret', 'a-secret-of-16-chars'], {
      RAFTBOX_MAX_TIMEOUT_SECS: '12.5',
    });
    expect(c.oauth.enabled).toBe(true);
    expect(c.peers).toEqual({ n1: 'http://127.0.0.1:7101', n2: 'http://127.0.0.1:7102' });
    expect(c.maxTimeoutSecs).toBe(12.5);
    expect(loadConfig([], { RAFTBOX_OAUTH_ENABLED: 'false' }).oauth.enabled).toBe(false);
    expect(loadConfig(['--config', file({ oauth: { enabled: true } })], {}).oauth.enabled).toBe(true);
  });

  it('refuses unknown flags, variables and file keys with a clear message', () => {
    expect(() => loadConfig(['--prot', '1'], {})).toThrow(new ConfigError('unknown flag --prot; did you mean --port? (see raftbox --help)'));
    expect(() => loadConfig([], { RAFTBOX_PROT: '1' })).toThrow(/unknown environment variable RAFTBOX_PROT; did you mean RAFTBOX_PORT\?/);
    expect(() => loadConfig(['--config', file({ prot: 1 })], {})).toThrow(/unknown key "prot"; did you mean port\? in the config file/);
    expect(() => loadConfig(['--config', file({ oauth: { bogus: 1 } })], {})).toThrow(/unknown key "bogus" in "oauth"/);
    // Nothing close: no suggestion.
    expect(() => loadConfig(['--zzzzzzzz'], {})).toThrow(new ConfigError('unknown flag --zzzzzzzz (see raftbox --help)'));
    expect(() => loadConfig([], { RAFTBOX_MAX_CONCURENT: '2' })).toThrow(/did you mean RAFTBOX_MAX_CONCURRENT\?/);
  });

  it("ignores exactly the shapes of Kubernetes' service-link variables, and nothing else", () => {
    // What a Service named `raftbox` (port 3000, named http) and one named `raftbox-admin` inject into a pod.
    const links = {
      RAFTBOX_SERVICE_HOST: '10.96.0.11',
      RAFTBOX_SERVICE_PORT: '3000',
      RAFTBOX_SERVICE_PORT_HTTP: '3000',
      RAFTBOX_PORT: 'tcp://10.96.0.11:3000',
      RAFTBOX_PORT_3000_TCP: 'tcp://10.96.0.11:3000',
      RAFTBOX_PORT_3000_TCP_PROTO: 'tcp',
      RAFTBOX_PORT_3000_TCP_PORT: '3000',
      RAFTBOX_PORT_3000_TCP_ADDR: '10.96.0.11',
      RAFTBOX_ADMIN_SERVICE_HOST: 'fd00::11',
      RAFTBOX_ADMIN_PORT: 'tcp://[fd00::11]:8080',
    };
    expect(loadConfig([], links).port).toBe(3000);
    expect(loadConfig([], { ...links, PORT: '4000' }).port).toBe(4000);
    expect(loadConfig([], { RAFTBOX_PORT: '3001' }).port).toBe(3001); // a number is still our port
    expect(() => loadConfig([], { RAFTBOX_SERVICE_HOST: 'my-host' })).toThrow(/unknown environment variable RAFTBOX_SERVICE_HOST/);
    expect(() => loadConfig([], { RAFTBOX_PORT: 'http://10.0.0.1:3000' })).toThrow(/RAFTBOX_PORT expects a number/);
    expect(() => loadConfig([], { RAFTBOX_PORT_3000_TCP_PROTO: 'http' })).toThrow(/unknown environment variable/);
  });

  it('reads secrets from files: --<flag>-file and <VAR>_FILE', () => {
    const secret = join(dir, 'cluster-secret');
    writeFileSync(secret, 'a-secret-of-16-chars-or-more\n');
    const users = join(dir, 'users');
    writeFileSync(users, '# name=hash, one a line\nalice=scrypt$a\nbob=scrypt$b\n');
    const peers = ['--peers', 'n1=http://127.0.0.1:7101'];
    expect(loadConfig([...peers, '--cluster-secret-file', secret], {}).clusterSecret).toBe('a-secret-of-16-chars-or-more');
    expect(loadConfig(peers, { RAFTBOX_CLUSTER_SECRET_FILE: secret }).clusterSecret).toBe('a-secret-of-16-chars-or-more');
    expect(loadConfig(['--oauth-users-file', users], {}).oauth.users).toEqual({ alice: 'scrypt$a', bob: 'scrypt$b' });
    expect(loadConfig([], { RAFTBOX_OAUTH_CLIENT_SECRET_FILE: secret }).oauth.clientSecret).toBe('a-secret-of-16-chars-or-more');
    expect(() => loadConfig(['--oauth-users-file', join(dir, 'none')], {})).toThrow(/--oauth-users-file: cannot read .*none: ENOENT/);
    expect(() => loadConfig(['--port-file', secret], {})).toThrow(/unknown flag --port-file/);
  });

  it('reads operator clients with a secret hash or a key-set URL, and enterprise IdPs from flags and the config file', () => {
    const keys = { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }] };
    expect(loadConfig(['--oauth-clients', 'k6=scrypt$a,ci=https://ci.example/jwks.json'], {}).oauth.clients).toEqual({ k6: 'scrypt$a', ci: 'https://ci.example/jwks.json' });
    expect(loadConfig(['--config', file({ oauth: { clients: { ci: { jwksUri: 'https://ci.example/jwks.json' }, batch: { jwks: keys } } } })], {}).oauth.clients).toEqual({ ci: { jwksUri: 'https://ci.example/jwks.json' }, batch: { jwks: keys } });
    const flags = loadConfig(['--oauth-enterprise-idp', 'https://idp.example https://idp.example/jwks agent other', '--oauth-enterprise-idp', 'https://b.example https://b.example/k *'], {}).oauth.enterpriseIdps;
    expect(flags).toEqual([
      { issuer: 'https://idp.example', jwksUri: 'https://idp.example/jwks', clients: ['agent', 'other'] },
      { issuer: 'https://b.example', jwksUri: 'https://b.example/k', clients: ['*'] },
    ]);
    const idp = { issuer: 'https://idp.example', jwks: keys, clients: ['agent'], scopes: ['raftbox:read'], subjectPrefix: 'acme:' };
    expect(loadConfig(['--config', file({ oauth: { enterpriseIdps: [idp] } })], {}).oauth.enterpriseIdps).toEqual([idp]);
    expect(() => loadConfig(['--oauth-enterprise-idp', 'https://idp.example https://idp.example/jwks'], {})).toThrow(/oauth\.enterpriseIdps\.0\.clients.*Too small/is);
    expect(() => loadConfig(['--config', file({ oauth: { enterpriseIdps: [{ issuer: 'https://idp.example', clients: ['a'] }] } })], {})).toThrow(/needs exactly one of jwksUri and jwks/);
  });

  it('reads upstream MCP servers from repeated --mcp-server flags, the variable and the config file, and refuses bad ones clearly', () => {
    const flags = loadConfig(['--mcp-server', 'gh=https://gh.example/mcp', '--mcp-server', 'docs=http://127.0.0.1:9/mcp'], {}).mcpServers;
    expect(flags.map((s) => [s.name, s.url])).toEqual([['gh', 'https://gh.example/mcp'], ['docs', 'http://127.0.0.1:9/mcp']]);
    expect(loadConfig([], { RAFTBOX_MCP_SERVERS: 'a=http://a.example/mcp,b=http://b.example/mcp' }).mcpServers.map((s) => s.name)).toEqual(['a', 'b']);
    const fromFile = loadConfig(['--config', file({ mcpServers: [
      { name: 'local', command: 'node', args: ['server.js'], env: { X: '1' } },
      { name: 'api', url: 'https://api.example/mcp', headers: { 'x-team': 'a' }, auth: { bearerEnv: 'API_TOKEN' }, allow: { subjects: ['alice'] } },
      { name: 'cc', url: 'https://cc.example/mcp', auth: { tokenUrl: 'https://as.example/token', clientId: 'raftbox', clientSecretFile: '/run/secret' } },
    ] })], {}).mcpServers;
    expect(fromFile[0]).toMatchObject({ name: 'local', command: 'node', args: ['server.js'], env: { X: '1' } });
    expect(fromFile[1]).toMatchObject({ auth: { bearerEnv: 'API_TOKEN' }, allow: { subjects: ['alice'], scopes: [] } });
    expect(() => loadConfig(['--mcp-server', 'gh'], {})).toThrow(/mcpServers\.0 \(from --mcp-server\): needs exactly one of url \(Streamable HTTP\) and command \(stdio\)/);
    expect(() => loadConfig(['--mcp-server', 'my-server=http://a.example'], {})).toThrow(/mcpServers\.0\.name: letters, digits or underscore/);
    expect(() => loadConfig(['--mcp-server', 'Servers=http://a.example'], {})).toThrow(/"Servers" is a name the declarations use themselves/);
    expect(() => loadConfig(['--mcp-server', 'a=http://a.example', '--mcp-server', 'a=http://b.example'], {})).toThrow(/"a" is named twice/);
    expect(() => loadConfig(['--config', file({ mcpServers: [{ name: 'x', url: 'https://x.example', auth: { tokenUrl: 'https://as.example/t', clientId: 'c' } }] })], {})).toThrow(/mcpServers\.0\.auth/);
  });

  it('refuses a setting the command cannot apply, from any source', () => {
    const applies = (s: { path: string[] }) => (s.path[0] === 'oauth' ? 'does not apply to `raftbox stdio`' : null);
    expect(() => loadConfig(['--oauth'], {}, applies)).toThrow(new ConfigError('--oauth does not apply to `raftbox stdio`'));
    expect(() => loadConfig([], { RAFTBOX_OAUTH_ENABLED: 'true' }, applies)).toThrow('RAFTBOX_OAUTH_ENABLED does not apply');
    expect(() => loadConfig(['--config', file({ oauth: { enabled: true } })], {}, applies)).toThrow(/key "oauth.enabled" of config file .* does not apply/);
    expect(loadConfig(['--port', '1'], {}, applies).port).toBe(1);
  });

  it('explains bad values and where they came from', () => {
    expect(() => loadConfig(['--port', 'abc'], {})).toThrow('--port expects a number, got "abc"');
    expect(() => loadConfig([], { RAFTBOX_PORT: '70000' })).toThrow(/port \(from RAFTBOX_PORT\)/);
    expect(() => loadConfig(['--log-level', 'loud'], {})).toThrow(/logLevel \(from --log-level\)/);
    expect(() => loadConfig(['--port'], {})).toThrow('flag --port needs a value');
    expect(() => loadConfig(['--config', file('{nope')], {})).toThrow(/is not valid JSON/);
    expect(() => loadConfig(['--config', join(dir, 'missing.json')], {})).toThrow(/cannot read config file/);
    expect(() => loadConfig(['serve'], {})).toThrow('unexpected argument "serve"');
  });

  it('derives one flag and one variable per setting, all described', () => {
    for (const s of SETTINGS) {
      expect(s.description, s.flag).not.toBe('');
      expect(s.env).toMatch(/^RAFTBOX_[A-Z_]+$/);
    }
    expect(new Set(SETTINGS.map((s) => s.flag)).size).toBe(SETTINGS.length);
  });
});
