import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CANCELS_MODULE, cancelRequestsModule, CancelRelay, MAX_REQUEST_ID_CHARS } from '../../src/mcp/cancel-requests.ts';
import { InFlightRequests } from '../../src/mcp/in-flight.ts';
import type { Replica } from '../../src/replication/index.ts';
import { tempDir, waitFor } from '../support/index.ts';
import { singleNodeReplica } from '../support/replica.ts';

// The replicated cancels over a real Raft node and LevelDB: what a node that does not hold a
// request does with a cancel (replicates it), and what every node does with one it applies.

describe('cancels relayed through the log', () => {
  let dir: string;
  let replica: Replica;
  beforeAll(async () => {
    dir = await tempDir('raftbox-cancels-');
    replica = await singleNodeReplica(dir, [cancelRequestsModule]);
  });
  afterAll(async () => {
    await replica.close();
    await rm(dir, { recursive: true, force: true });
  });

  const store = () => ({ state: replica.state, log: replica.commandLog });
  const ring = () => replica.state.get(CANCELS_MODULE, 'ring') as { seq: number; cancels: Array<{ caller: string; requestId: unknown; reason?: string }> } | undefined;

  it('a cancel no local request matches reaches the relay of the node that holds it, for that caller only', async () => {
    // Two relays over one state stand for two nodes: `here` gets the notification, `there` holds the request.
    const here = new CancelRelay(new InFlightRequests(), store());
    const holding = new InFlightRequests();
    const there = new CancelRelay(holding, store());
    const alice = new AbortController();
    const untrack = holding.track('alice', 7, alice);
    try {
      await here.cancel('bob', 7, 'not his');
      expect(alice.signal.aborted).toBe(false);
      await here.cancel('alice', '7'); // "7" is another id than 7
      expect(alice.signal.aborted).toBe(false);
      await here.cancel('alice', 7, 'user stop');
      await waitFor('the cancel to be applied', () => alice.signal.aborted);
      expect(alice.signal.reason).toBe('user stop');
    } finally {
      untrack();
      here.close();
      there.close();
    }
  });

  it('keeps a bounded ring, cuts long reasons and replicates nothing unbounded', async () => {
    const relay = new CancelRelay(new InFlightRequests(), store());
    try {
      const before = ring()?.seq ?? 0;
      for (let i = 0; i < 70; i++) await relay.cancel('c', `r${i}`, 'x'.repeat(1000));
      const after = ring()!;
      expect(after.seq).toBe(before + 70);
      expect(after.cancels).toHaveLength(64);
      expect(after.cancels.at(-1)).toMatchObject({ requestId: 'r69' });
      expect(after.cancels.at(-1)!.reason).toHaveLength(256);
      await relay.cancel('c', 'x'.repeat(MAX_REQUEST_ID_CHARS + 1));
      await relay.cancel('c', { not: 'an id' });
      expect(ring()!.seq).toBe(before + 70);
      expect(await replica.commandLog.propose({ type: `${CANCELS_MODULE}.cancel`, caller: 'c', requestId: null })).toMatchObject({ ok: false });
    } finally {
      relay.close();
    }
  });

  it('without a replicated store a cancel stays on this node', async () => {
    const inFlight = new InFlightRequests();
    const relay = new CancelRelay(inFlight);
    const controller = new AbortController();
    inFlight.track('', 1, controller);
    const seq = ring()?.seq;
    await relay.cancel('', 2);
    await relay.cancel('', 1);
    expect(controller.signal.aborted).toBe(true);
    expect(ring()?.seq).toBe(seq);
  });
});
