import type { ReplicatedState } from '../../src/store/index.ts';

/** Streams `from`'s state into `to` chunk by chunk, as a follower receives a snapshot; resolves with whether `to` took it. */
export async function copyState(from: ReplicatedState, to: ReplicatedState): Promise<boolean> {
  const restore = await to.beginRestore();
  for await (const chunk of from.snapshotChunks()) await restore.write(chunk);
  return restore.finish({ index: from.appliedIndex(), term: 0 });
}
