// Drives connections (bench/runner/scenario.ts) at a target arrival rate with autocannon, as close to k6's
// constant-arrival-rate as autocannon allows.
//
// autocannon's rate limit is per connection and per second: when a connection's one-second tick fires it
// may send its share of the rate, each request after the previous answer (closed loop). All connections of
// one autocannon instance tick together, so a single instance sends each second's requests in one burst. To
// spread the arrivals over the second, each connection here is its own instance, started 1000/C ms after
// the previous one: C connections give C evenly spaced bursts per second, each of rate/C sequential requests.
// Under saturation nothing is dropped: a connection starts its next iteration late (see aggregate.ts).
// The budget counts requests, not iterations: in the poll flow every poll spends one, so an iteration
// that needs polls waits for the connection's next tick (up to 1 s) and fewer iterations than the target
// start. The wait and mcp flows take one request per iteration unless a run outlasts the wait.
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { Connection, type ScenarioOptions, type Tally } from './scenario.ts';

export interface LoadOptions {
  /** Connection i loads urls[i % urls.length]. */
  urls: string[];
  rate: number;
  durationS: number;
  connections: number;
  scenario: ScenarioOptions;
}

/** Connections actually opened: each needs a share of at least 1 request/s (autocannon reads 0 as unlimited). */
export function connectionCount(rate: number, connections: number): number {
  return Math.max(1, Math.min(rate, connections));
}

/** Connection i's requests per second; the shares add up to the rate. */
export function share(rate: number, connections: number, i: number): number {
  return Math.floor(rate / connections) + (i < rate % connections ? 1 : 0);
}

export async function runLoad(opts: LoadOptions): Promise<Tally> {
  const tally: Tally = { samples: [], httpResponses: 0 };
  const n = connectionCount(opts.rate, opts.connections);
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      await sleep((i * 1000) / n);
      const connection = new Connection(opts.scenario, i, tally, performance.now() + opts.durationS * 1000);
      await autocannon({
        url: opts.urls[i % opts.urls.length]!,
        connections: 1,
        overallRate: share(opts.rate, n, i),
        duration: opts.durationS,
        timeout: Math.ceil(opts.scenario.deadlineMs / 1000),
        // One request entry whose builder asks the connection what to send: a submit, or a poll.
        setupClient: (client) =>
          client.setRequests([
            {
              setupRequest: (request) => ({ ...request, ...connection.next() }),
              onResponse: (status, body) => connection.onResponse(status, body),
            },
          ]),
      });
    }),
  );
  return tally;
}
