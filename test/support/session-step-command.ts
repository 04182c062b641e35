import { randomBytes } from 'node:crypto';
import { stateId, type StateObject, type StepCommand } from '../../src/sessions/session-state.ts';

/**
 * A `session.step` command as the product commits one, for making large states fast through the
 * replica (no sandbox run): `padBytes` of random text in a comment (LevelDB cannot compress it
 * away) before `code`.
 */
export function sessionStepCommand(session: string, parent: string | null, step: number, code: string, padBytes: number): StepCommand {
  const object: StateObject = {
    parent,
    step,
    code: `// ${randomBytes(Math.floor((padBytes * 3) / 4)).toString('base64')}\n${code}`,
    language: 'js',
    seed: randomBytes(16).toString('hex'),
    clock: Date.now(),
    memoryMb: 64,
    subject: null,
    threw: false,
    createdAt: new Date().toISOString(),
  };
  return { type: 'session.step', heap: stateId(object), object, session, expect: parent, subject: null };
}
