import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { renderNginxSite } from '../../cluster/nginx-site.ts';
import { missingPrerequisite, onPath } from './prerequisites.ts';

const root = new URL('../../', import.meta.url).pathname;
const read = (path: string) => readFileSync(root + path, 'utf8');

interface Service {
  build?: { context: string; dockerfile: string };
  image?: string;
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}
// Compose files use YAML merge keys (`<<: *anchor`) to give the three nodes one definition.
const compose = parse(read('docker-compose.cluster.yml'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const nodes = ['node1', 'node2', 'node3'];

describe('docker-compose.cluster.yml', () => {
  it('has three nodes and nginx, each node with its own named volume on /data', () => {
    expect(Object.keys(compose.services).sort()).toEqual([...nodes, 'nginx'].sort());
    expect(Object.keys(compose.volumes).sort()).toEqual(nodes.map((n) => `${n}-data`));
    for (const node of nodes) {
      const service = compose.services[node]!;
      expect(service.build).toEqual({ context: '.', dockerfile: 'cluster/Dockerfile' });
      expect(service.volumes).toEqual([`${node}-data:/data`]);
      expect(service.environment).toMatchObject({ RAFTBOX_HOST: '0.0.0.0', RAFTBOX_DATA_DIR: '/data' });
      expect(service.healthcheck!.test.join(' ')).toContain('/healthz');
    }
  });

  it('gives every node the same peer list, in which each node id points at its own service and port', () => {
    const envs = nodes.map((n) => compose.services[n]!.environment!);
    const peers = envs[0]!.RAFTBOX_PEERS!;
    for (const env of envs) {
      expect(env.RAFTBOX_PEERS).toBe(peers);
      expect(env.RAFTBOX_CLUSTER_SECRET).toMatch(/^\$\{RAFTBOX_CLUSTER_SECRET:\?/);
    }
    const byId = Object.fromEntries(peers.split(',').map((p) => p.split('=') as [string, string]));
    expect(Object.keys(byId).sort()).toEqual(envs.map((e) => e.RAFTBOX_NODE_ID).sort());
    nodes.forEach((node, i) => {
      const env = envs[i]!;
      expect(byId[env.RAFTBOX_NODE_ID!]).toBe(`http://${node}:${env.PORT}`);
    });
  });

  it('puts nginx on 8080 in front of all three nodes, with the compose variant of the config', () => {
    const nginx = compose.services.nginx!;
    expect(nginx.ports).toEqual(['8080:8080']);
    expect(Object.keys(nginx.depends_on!).sort()).toEqual(nodes);
    for (const dep of Object.values(nginx.depends_on!)) expect(dep.condition).toBe('service_healthy');
    const mounts = Object.fromEntries(nginx.volumes!.map((v) => v.split(':') as [string, string, string]).map(([src, dst]) => [dst, src]));
    expect(mounts).toEqual({
      '/etc/nginx/nginx.conf': './cluster/nginx.conf',
      '/etc/nginx/raftbox-proxy.conf': './cluster/raftbox-proxy.conf',
      '/etc/nginx/raftbox-site.conf': './cluster/compose/raftbox-site.conf',
    });
    for (const src of Object.values(mounts)) expect(existsSync(root + src)).toBe(true);
  });

  it("routes to exactly the peers' addresses: the compose site file is renderNginxSite() for them", () => {
    const upstreams = compose.services.node1!.environment!.RAFTBOX_PEERS!.split(',').map((p) => new URL(p.split('=')[1]!).host);
    expect(read('cluster/compose/raftbox-site.conf').endsWith(renderNginxSite({ nodes: upstreams, listen: '8080' }))).toBe(true);
  });

  it.skipIf(missingPrerequisite('docker-compose', onPath('docker-compose')) !== null)('passes `docker-compose config`', () => {
    execFileSync('docker-compose', ['-f', root + 'docker-compose.cluster.yml', 'config', '-q'], {
      env: { ...process.env, RAFTBOX_CLUSTER_SECRET: 'test-secret' },
      stdio: 'pipe',
    });
  });
});

describe('cluster/Dockerfile', () => {
  const dockerfile = read('cluster/Dockerfile');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  const stage = (name: string) => stages.find((s) => s.startsWith(`node:24-bookworm-slim AS ${name}\n`));

  it('builds production deps on Node 24 without a compiler, and runs from a stage without npm installs', () => {
    expect(stages.map((s) => s.split('\n')[0])).toEqual(['node:24-bookworm-slim AS deps', 'node:24-bookworm-slim AS runtime']);
    expect(stage('deps')).not.toMatch(/g\+\+|node-gyp/);
    expect(stage('deps')).toContain('RUN npm ci --omit=dev');
    expect(stage('runtime')).not.toMatch(/g\+\+|npm (ci|install)/);
    expect(stage('runtime')).toContain('COPY --from=deps /app/node_modules ./node_modules');
  });

  it('needs no TypeScript loader at run time, and leaves the pinned Node out of the image (the base image has Node 24)', () => {
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    expect(Object.keys(pkg.dependencies)).not.toContain('tsx');
    expect(Object.keys(pkg.dependencies)).not.toContain('node');
    expect(pkg.devDependencies.node).toMatch(/^24\./);
  });

  it('runs as non-root with --no-node-snapshot, a /data volume and a /healthz healthcheck', () => {
    const runtime = stage('runtime')!;
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/^VOLUME \/data$/m);
    expect(runtime).toMatch(/^HEALTHCHECK .*\n.*\/healthz/m);
    expect(runtime).toContain('ENTRYPOINT ["/usr/bin/tini", "--", "node", "--no-node-snapshot", "src/cli/main.ts"]');
    expect(runtime).toContain('CMD ["serve"]');
  });

  it('keeps host node_modules and local data out of the build context', () => {
    const ignored = read('.dockerignore').split('\n').filter((l) => l && !l.startsWith('#'));
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', '.git', 'data', '.data', 'bench/out']));
  });
});
