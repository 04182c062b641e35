import { mkdtemp, rm } from 'node:fs/promises';
import { afterEach, beforeEach } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDomain, domainModules, type Domain, type DomainOptions } from '../../src/executions/index.ts';
import { IsolatePool, type PackageSet } from '../../src/sandbox/index.ts';
import type { CommandLog, ReplicatedState } from '../../src/store/index.ts';
import type { Replica } from '../../src/replication/index.ts';
import { singleNodeReplica } from '../support/replica.ts';

/** One node's domain over a real single-node Raft log, or several "nodes" sharing one replicated state. */
export class Fixture {
  readonly pool = new IsolatePool({ maxIsolates: 2 });
  state!: ReplicatedState;
  log!: CommandLog;
  private replicated!: Replica;
  private readonly domains: Domain[] = [];

  readonly dir: string;
  private constructor(dir: string) {
    this.dir = dir;
  }

  static async open(): Promise<Fixture> {
    const f = new Fixture(await mkdtemp(join(tmpdir(), 'raftbox-domain-')));
    await f.openState();
    return f;
  }

  /** A node's services; all nodes of a fixture share the replicated state, each with its own warm isolates. */
  async node(options: Partial<DomainOptions> = {}, packages?: PackageSet): Promise<Domain> {
    const domain = await createDomain({ state: this.state, log: this.log, pool: this.pool, options, ...(packages ? { packages } : {}) });
    this.domains.push(domain);
    return domain;
  }

  /** Closes every node and the state, then opens the state dir again: a restart. */
  async restart(): Promise<void> {
    await this.closeNodes();
    await this.replicated.close();
    await this.openState();
  }

  async close(): Promise<void> {
    await this.closeNodes();
    await this.replicated.close();
    this.pool.close();
    await rm(this.dir, { recursive: true, force: true });
  }

  private async closeNodes(): Promise<void> {
    await Promise.all(this.domains.splice(0).map((d) => d.close()));
  }

  private async openState(): Promise<void> {
    this.replicated = await singleNodeReplica(this.dir, domainModules());
    ({ state: this.state, commandLog: this.log } = this.replicated);
  }
}

/** A fresh fixture and one node of it for every test of the calling file. */
export function perTestNode(options: Partial<DomainOptions> = {}): { f: Fixture; node: Domain } {
  const current = {} as { f: Fixture; node: Domain };
  beforeEach(async () => {
    current.f = await Fixture.open();
    current.node = await current.f.node(options);
  });
  afterEach(() => current.f.close());
  return current;
}
