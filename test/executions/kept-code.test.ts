import { describe, expect, it } from 'vitest';
import { executionView, executionViewWithCode } from '../../src/api/views.ts';
import { EXECUTION_MODULE } from '../../src/executions/index.ts';
import { KEPT_CODE_BYTES, keptCode } from '../../src/executions/kept-code.ts';
import { perTestNode } from '../sessions/fixture.ts';

const t = perTestNode();
const WAIT = { waitMs: 20_000 };

describe('an execution record keeps the code it ran, capped in bytes', () => {
  it('keeps a stateless run\'s code; get_execution answers it only with include_code', async () => {
    const e = await t.node.executions.run({ code: '"a" + "b"', language: 'js' }, WAIT);
    const got = await t.node.executions.get(e.id);
    expect(executionViewWithCode(got)).toMatchObject({ code: '"a" + "b"', code_truncated: false, result: 'ab' });
    expect(executionView(got)).not.toHaveProperty('code');
    // List pages never carry it.
    expect(executionView((await t.node.executions.list({})).executions[0]!)).not.toHaveProperty('code');
  });

  it('cuts a long code at a character boundary within the cap, says so, and keeps it on disk rather than in memory', async () => {
    // A 3-byte character straddles the cap: the kept prefix ends before it.
    const comment = '//' + 'x'.repeat(KEPT_CODE_BYTES - 3) + '€€€' + 'y'.repeat(10_000);
    const code = `${comment}\n1 + 1`;
    const e = await t.node.executions.run({ code, language: 'js' }, WAIT);
    await t.f.log.linearizableRead();
    const inMemory = t.f.state.get(EXECUTION_MODULE, `rec/${e.id}`) as { code?: string; bodyOmitted?: boolean };
    expect(inMemory.bodyOmitted).toBe(true);
    expect(inMemory.code).toBeUndefined();
    const view = executionViewWithCode(await t.node.executions.get(e.id));
    expect(view).toMatchObject({ result: 2, code_truncated: true });
    expect(view.code).toBe(comment.slice(0, KEPT_CODE_BYTES - 1));
    expect(Buffer.byteLength(view.code!)).toBeLessThanOrEqual(KEPT_CODE_BYTES);
  });

  it('keepCode: whole code at the cap, one byte more is cut', () => {
    const at = 'a'.repeat(KEPT_CODE_BYTES);
    expect(keptCode(at)).toEqual({ code: at, codeBytes: KEPT_CODE_BYTES });
    expect(keptCode(at + 'é')).toEqual({ code: at, codeBytes: KEPT_CODE_BYTES + 2 });
  });
});
