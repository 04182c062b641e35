import type { BrowserContext } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from '../cluster/harness.ts';
import { waitFor } from '../support/index.ts';
import { hashPassword } from '../../src/auth/index.ts';
import type { Config } from '../../src/config/index.ts';
import { startTestNode } from '../e2e/node.ts';
import { launchChromium, missingChromium } from './chromium.ts';

const unavailable = missingChromium();

let cluster: TestCluster;
let browser: BrowserContext;
beforeAll(async () => {
  // info: the request lines of forwarded proposals are what the request-id check below reads.
  cluster = await TestCluster.start({ args: ['--log-level', 'info', '--shutdown-grace-secs', '2'] });
  if (!unavailable) browser = await launchChromium();
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await cluster?.close();
});
// A failure here once showed a follower unreachable in the leader's view for 10 s on a loaded
// machine, and passed on every run after: what the nodes printed is what would tell why.
afterEach(({ task }) => {
  if (task.result?.state !== 'fail') return;
  for (const n of cluster?.nodes ?? []) console.error(`--- ${n.id} printed (tail):\n${n.output}`);
});

describe.skipIf(unavailable !== null)('the status page in headless Chromium', () => {
  it('shows three nodes, then marks a SIGKILLed one as down', async () => {
    const leader = await cluster.leader();
    const viewer = cluster.nodes.find((n) => n.id !== leader)!;
    const victim = cluster.nodes.find((n) => n.id !== leader && n !== viewer)!;
    await cluster.step(viewer.id, 'page-session', 'let a = 1; a');
    const stateless = await cluster.post(viewer.id, '/api/exec?wait=30000', { code: '"stateless" + " run"', language: 'js' });

    const page = await browser.newPage();
    await page.goto(`${viewer.url}/`);
    const rows = page.locator('#nodes tbody tr');
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(3);
    for (const n of cluster.nodes) await expect.poll(() => page.locator(`tr[data-node="${n.id}"]`).getAttribute('data-state'), { timeout: 10_000 }).toBe('up');
    await expect.poll(() => page.locator('#nodes').innerText()).toContain('leader');
    // The leader's view, seen from a follower: the leader's own answer, not `unknown`.
    for (const n of cluster.nodes) {
      await expect.poll(() => page.locator(`tr[data-node="${n.id}"] td`).nth(6).innerText(), { timeout: 10_000 }).toBe(n.id === leader ? 'leader' : 'ok');
    }
    // A list that takes the node longer than its part of status.json's budget (300 ms, on a loaded
    // machine) is shown as unavailable and read again by the page's next refresh, 2 s later.
    await expect.poll(() => page.locator('#sessions').innerText(), { timeout: 10_000 }).toContain('page-session');
    await expect.poll(() => page.locator('#executions tbody tr').count(), { timeout: 10_000 }).toBeGreaterThan(0);
    // One time format, UTC, in the header and the tables.
    expect(await page.locator('#meta').innerText()).toMatch(/ · \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    expect(await page.locator('#sessions tbody td').nth(2).innerText()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    // Executions and sessions link to detail views: code, output and result, the journal's code.
    await page.locator('#executions tbody tr', { hasText: 'page-session' }).first().locator('a').first().click();
    await expect.poll(() => page.locator('#detail pre.result').innerText()).toBe('1');
    expect(await page.locator('#detail pre.code').innerText()).toBe('let a = 1; a');
    // A stateless run has no journal: its record keeps the code.
    await page.locator('#executions tbody a', { hasText: stateless.json.execution_id }).click();
    await expect.poll(() => page.locator('#detail pre.code').innerText()).toBe('"stateless" + " run"');
    expect(await page.locator('#detail pre.result').innerText()).toBe('"stateless run"');
    await page.locator('#executions tbody tr', { hasText: 'page-session' }).first().locator('a').first().click();
    await expect.poll(() => page.locator('#detail pre.result').innerText()).toBe('1');
    await page.locator('#detail a', { hasText: 'page-session' }).click();
    await expect.poll(() => page.locator('#detail pre.code').first().innerText()).toBe('let a = 1; a');

    await cluster.kill(victim.id);
    const row = page.locator(`tr[data-node="${victim.id}"]`);
    await expect.poll(() => row.getAttribute('data-state'), { timeout: 15_000 }).toBe('down');
    expect(await row.locator('td').nth(1).innerText()).toBe('down');
    await page.close();
    await cluster.restart(victim.id);
  }, 60_000);
});

describe.skipIf(unavailable !== null)('the status page of an OAuth-protected node', () => {
  it('signs the operator in through the built-in authorization server, not a pasted token', async () => {
    const node = await startTestNode({ oauth: { enabled: true, users: { alice: await hashPassword('status-page-password') }, clients: {}, accessTokenTtlSecs: 600, refreshTokenTtlSecs: 3600, clientMetadataDocuments: 'public', enterpriseIdps: [] } as Config['oauth'] });
    try {
      const page = await browser.newPage();
      await page.goto(`${node.url}/`);
      await page.locator('#signin').click();
      await page.locator('input[name=username]').fill('alice');
      await page.locator('input[name=password]').fill('status-page-password');
      await page.locator('button[type=submit]').first().click();
      await page.locator('button[name=decision][value=allow]').click();
      await expect.poll(() => page.url()).toBe(`${node.url}/`);
      await expect.poll(() => page.locator('#meta').innerText(), { timeout: 10_000 }).toMatch(/^seen from n1 \(leader/);
      expect(await page.locator('#auth').isHidden()).toBe(true);
      await page.close();
    } finally {
      await node.stop();
    }
  }, 60_000);
});

describe('a three-node cluster', () => {
  it('forwards a request id with a follower\'s proposal, so the leader logs the same id', async () => {
    const leader = await cluster.leader();
    const follower = cluster.nodes.find((n) => n.id !== leader && n.child !== null)!;
    const res = await cluster.post(follower.id, '/api/exec?wait=20000', { code: '40 + 2', language: 'js' }, { 'x-request-id': 'trace-across-nodes-1' });
    expect(res.status).toBe(200);
    await waitFor('the leader to log the forwarded proposal', () => /"requestId":"trace-across-nodes-1".*"peerCall":"propose"/.test(cluster.node(leader).output));
    expect(follower.output).toMatch(/"requestId":"trace-across-nodes-1".*"path":"\/api\/exec"/);
  });

  it('hands leadership off when the leader gets SIGTERM, and the leader exits 0', async () => {
    await cluster.waitReady();
    const leader = await cluster.leader();
    const child = cluster.node(leader).child!;
    const code = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    child.kill('SIGTERM');
    expect(await code).toBe(0);
    expect(cluster.node(leader).output).toContain('"msg":"handed off leadership"');
    cluster.node(leader).child = null;
  }, 30_000);
});
