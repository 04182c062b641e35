import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';

const root = new URL('../../', import.meta.url);
// Compose uses YAML merge keys (`<<: *anchor`), which the yaml package resolves only when asked.
const compose = parse(readFileSync(new URL('docker-compose.oauth.yml', root), 'utf8'), { merge: true }) as {
  services: Record<string, { environment?: Record<string, string>; volumes?: string[] }>;
};
const realm = JSON.parse(readFileSync(new URL('keycloak/realm.json', root), 'utf8')) as {
  realm: string;
  clients: Array<{ clientId: string; publicClient: boolean; secret?: string; serviceAccountsEnabled: boolean; attributes?: Record<string, string> }>;
  clientScopes: Array<{ name: string; protocolMappers?: Array<{ config: Record<string, string> }> }>;
  users: Array<{ username: string }>;
};

describe('docker-compose.oauth.yml and keycloak/realm.json', () => {
  const env = compose.services.node1!.environment!;

  it('wires every node to the realm, and the node environment is a valid raftbox config', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['keycloak', 'nginx', 'node1', 'node2', 'node3']);
    expect(env.RAFTBOX_OAUTH_PROVIDER_URL).toBe(`http://keycloak:8180/realms/${realm.realm}`);
    expect(compose.services.keycloak!.volumes).toContain('./keycloak/realm.json:/opt/keycloak/data/import/realm.json:ro');
    const config = loadConfig([], { ...env, RAFTBOX_CLUSTER_SECRET: 'x'.repeat(32), RAFTBOX_OAUTH_TOKEN_FORMAT: 'introspection' });
    expect(config.oauth).toMatchObject({ enabled: true, providerUrl: env.RAFTBOX_OAUTH_PROVIDER_URL, clientId: 'raftbox-server' });
  });

  it('has the agent, introspection and machine clients, the scopes, the audience mapper and a test user', () => {
    const client = (id: string) => realm.clients.find((c) => c.clientId === id)!;
    expect(client('raftbox-agent')).toMatchObject({ publicClient: true, attributes: { 'pkce.code.challenge.method': 'S256' } });
    expect(client('raftbox-server').secret).toBe(env.RAFTBOX_OAUTH_CLIENT_SECRET);
    expect(client('raftbox-machine').serviceAccountsEnabled).toBe(true);
    expect(realm.clientScopes.map((s) => s.name)).toEqual(expect.arrayContaining(['raftbox:run', 'raftbox:read']));
    const audience = realm.clientScopes.find((s) => s.name === 'raftbox-audience')!.protocolMappers![0]!.config['included.custom.audience'];
    expect(audience).toBe(env.RAFTBOX_OAUTH_ISSUER);
    expect(realm.users.map((u) => u.username)).toContain('test');
  });

  it('puts `sub` in access tokens and introspection answers for every client that gets tokens', () => {
    // Keycloak 25+ emits `sub` only through a mapper (its `basic` scope), and an import that declares any
    // clientScopes gets none of the built-in ones (RealmManager.importRealm), so the realm declares it.
    const scopes = new Map(realm.clientScopes.map((s) => [s.name, s]));
    for (const id of ['raftbox-agent', 'raftbox-machine']) {
      const defaults = (realm.clients.find((c) => c.clientId === id) as { defaultClientScopes?: string[] }).defaultClientScopes ?? [];
      for (const name of defaults) expect(scopes.has(name), `${id}'s default scope ${name} is declared`).toBe(true);
      const mappers = defaults.flatMap((name) => scopes.get(name)!.protocolMappers ?? []) as Array<{ protocolMapper: string; config: Record<string, string> }>;
      expect(mappers.find((m) => m.protocolMapper === 'oidc-sub-mapper')?.config, id).toMatchObject({ 'access.token.claim': 'true', 'introspection.token.claim': 'true' });
    }
  });
});
