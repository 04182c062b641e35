// `npm run docs`: writes the generated reference documents (see reference-docs.ts).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { REFERENCE_DOCS } from './reference-docs.ts';

const repo = fileURLToPath(new URL('..', import.meta.url));
for (const doc of REFERENCE_DOCS) {
  writeFileSync(repo + doc.path, doc.render());
  process.stdout.write(`wrote ${doc.path}\n`);
}
