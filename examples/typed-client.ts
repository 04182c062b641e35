// The typed REST client: every path, parameter and answer is typed from the OpenAPI document.
import { createRaftboxClient, ok, run } from '../clients/typescript/src/index.ts';

const api = createRaftboxClient({ baseUrl: process.env.RAFTBOX_URL || 'http://127.0.0.1:3000', token: process.env.RAFTBOX_TOKEN });
const session = `typed-${Date.now()}`;

// Run and wait for the result; a long run is followed with long polls, each one reported.
const e = await run(api, { code: 'let squares = [1, 2, 3].map((n) => n * n); squares', session, language: 'ts' }, {
  onProgress: (x) => console.log(`still ${x.status}: ${x.execution_id}`),
});
console.log(e.status, e.result); // completed [ 1, 4, 9 ]

await run(api, { code: 'squares.push(16); console.log("four squares"); squares.length', session });

// The session's journal, and its executions newest first.
const detail = await ok(api.GET('/api/sessions/{session}', { params: { path: { session } } }));
for (const step of detail.journal) console.log(`step ${step.step}: ${step.code}`);
const page = await ok(api.GET('/api/executions', { params: { query: { session, limit: 10 } } }));
for (const x of page.executions) console.log(x.execution_id, x.status, x.output || '(no output)', `${x.duration_ms} ms`);

await ok(api.DELETE('/api/sessions/{session}', { params: { path: { session } } }));
