import type { Command, Json, Tx } from '../store/index.ts';

/**
 * Session claims, in the session namespace at `claim/<subject>/<name>`. A step about to make its
 * first external call holds its session: until the step commits, its claim is released or `until`
 * passes, no other step is accepted on the session, so no other node runs a step there that might
 * have to run again (and send its requests twice). `until` covers the step's wall-clock limit and
 * its commit; a node that dies holding a claim blocks the session until then (docs/sessions.md,
 * "Host calls").
 */
export interface SessionClaim {
  claim: string;
  node: string;
  head: string | null;
  until: number;
  [field: string]: Json | undefined;
}

export interface ClaimCommand extends Command {
  type: 'session.claim';
  session: string;
  subject: string | null;
  /** The head the step runs on: the claim is refused if the session has moved. */
  expect: string | null;
  claim: string;
  node: string;
  /** The proposer's clock (epoch ms) and the claim's expiry. */
  at: number;
  until: number;
}

export interface ReleaseCommand extends Command {
  type: 'session.release';
  session: string;
  subject: string | null;
  claim: string;
}

export type ClaimRefusal = { ok: false; reason: 'claimed'; node: string; until: number };
export type ClaimVerdict = { ok: true } | { ok: false; reason: 'moved'; head: string | null } | ClaimRefusal;

const claimKey = (subject: string | null, name: string) => `claim/${encodeURIComponent(subject ?? '')}/${name}`;

/** Takes the session for a step on head `expect` (the session's head is `head`), unless it moved or another unexpired claim holds it. */
export function applyClaim(cmd: ClaimCommand, tx: Tx, head: string | null): ClaimVerdict {
  if (head !== cmd.expect) return { ok: false, reason: 'moved', head };
  const refusal = claimRefusal(tx, cmd.subject, cmd.session, cmd.claim, cmd.at);
  if (refusal !== null) return refusal;
  tx.put(claimKey(cmd.subject, cmd.session), { claim: cmd.claim, node: cmd.node, head: cmd.expect, until: cmd.until } satisfies SessionClaim);
  return { ok: true };
}

export function applyRelease(cmd: ReleaseCommand, tx: Tx): Json {
  const key = claimKey(cmd.subject, cmd.session);
  if ((tx.get(key) as SessionClaim | undefined)?.claim !== cmd.claim) return { ok: false };
  tx.del(key);
  return { ok: true };
}

/** Why a step (holding claim `claim`, or none) may not move the session at time `at`: another step's claim that has not expired. */
export function claimRefusal(tx: Tx, subject: string | null, session: string, claim: string | null, at: number): ClaimRefusal | null {
  const held = tx.get(claimKey(subject, session)) as SessionClaim | undefined;
  if (held === undefined || held.claim === claim || held.until <= at) return null;
  return { ok: false, reason: 'claimed', node: held.node, until: held.until };
}

/** The session moved (a step committed) or is gone: whatever claim it had is over. */
export function dropClaim(tx: Tx, subject: string | null, session: string): void {
  tx.del(claimKey(subject, session));
}
