import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { REFERENCE_DOCS } from '../../scripts/reference-docs.ts';

describe('generated reference documents', () => {
  for (const doc of REFERENCE_DOCS) {
    it(`${doc.path} is up to date (regenerate with \`npm run docs\`)`, () => {
      const committed = readFileSync(new URL(`../../${doc.path}`, import.meta.url), 'utf8');
      expect(committed === doc.render(), `${doc.path} is stale: run \`npm run docs\` and commit it`).toBe(true);
    });
  }
});
