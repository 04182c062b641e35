// Replays every interaction script in testdata/ (see scenario.ts for the commands) and checks each
// command's output against the one written under it.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatScript, parseScript, Scenario } from './scenario.ts';

const dir = fileURLToPath(new URL('./testdata/', import.meta.url));
const rewrite = process.env.REWRITE_SCENARIOS === '1';

describe('raft interaction scripts', () => {
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.txt')).sort()) {
    it(file, () => {
      const text = readFileSync(join(dir, file), 'utf8');
      const scenario = new Scenario();
      const outputs: string[] = [];
      for (const block of parseScript(text)) {
        const out = scenario.run(block.command);
        outputs.push(out);
        if (!rewrite) expect(out, `${file}:${block.line}: ${block.command}`).toBe(block.expected);
      }
      if (rewrite) writeFileSync(join(dir, file), formatScript(text, outputs));
    });
  }
});
