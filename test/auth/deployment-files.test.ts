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
});
