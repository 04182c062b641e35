import { tokenizer } from 'acorn';
import { buildSync } from 'esbuild';

/**
 * The web platform (src/sandbox/web) and the step's CSPRNG, bundled with esbuild for the isolate when
 * this module loads. The web bundle becomes a function whose parameters shadow every global it could
 * read, called with the runtime's own captured built-ins: what it sees never depends on what user code
 * did to the global object before the first use (it is evaluated lazily in a session).
 */

// Globals polyfills feature-detect (or that user code could plant): undefined to the bundle even
// where the runtime has them.
export const WEB_HIDDEN = [
  'window', 'self', 'global', 'process', 'Buffer', 'require', 'module', 'exports', 'define', 'document', 'navigator',
  'location', 'console', 'fetch', 'crypto', 'performance', 'WebAssembly', 'dispatchEvent', 'ErrorEvent', 'Atomics',
  'setInterval', 'clearInterval', 'setImmediate', 'structuredClone',
];
// Not usable as parameter names of a sloppy-mode function.
const NOT_PARAMETERS = new Set(['eval', 'arguments', 'let', 'static', 'yield', 'await', 'implements', 'package', 'protected', 'interface', 'private', 'public', 'enum']);

/**
 * Every name the bundle could read as a free variable: an over-approximation (every identifier token
 * not right after a dot), which is harmless, since the bundle's own declarations shadow parameters.
 */
function identifierNames(code: string): string[] {
  const names = new Set<string>();
  let afterDot = false;
  for (const token of tokenizer(code, { ecmaVersion: 'latest' })) {
    if (token.type.label === 'name' && !afterDot && !NOT_PARAMETERS.has(token.value as string)) names.add(token.value as string);
    afterDot = token.type.label === '.' || token.type.label === '?.';
  }
  return [...names].sort();
}

function bundle(entry: string, globalName: string, inject: string[] = []): string {
  const result = buildSync({
    inject: inject.map((file) => new URL(`../web/${file}`, import.meta.url).pathname),
    entryPoints: [new URL(`../web/${entry}`, import.meta.url).pathname],
    bundle: true,
    format: 'iife',
    globalName,
    write: false,
    platform: 'neutral',
    mainFields: ['module', 'main'],
    target: 'es2024',
    minify: true,
    legalComments: 'none',
    define: { globalThis: '__shadowGlobal', self: '__shadowGlobal' },
    // whatwg-url asks for the full decoder set; the CJK multi-byte tables (150 kB) stay out, as in encoding.js.
    alias: { '@exodus/bytes/encoding.js': '@exodus/bytes/encoding-lite.js' },
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

/** `const csprng = …` for the runtime's closure: seed(words), fill(bytes), uint32(). */
export const CSPRNG_SOURCE = bundle('random.js', 'csprng').replace(/^var csprng=/, 'const csprng=');

const WEB_BODY = bundle('index.js', '__raftboxWeb', ['inject.js']);

/**
 * The bundle's free names: the runtime passes each the value the global object had at bootstrap
 * (undefined for WEB_HIDDEN and for what it lacks), whatever user code did to it since.
 */
export const WEB_PARAMETERS = identifierNames(WEB_BODY).filter((n) => n !== '__shadowGlobal');

/** A function expression: (__shadowGlobal, ...WEB_PARAMETERS) => { createWebPlatform }. */
export const WEB_SOURCE = `(function (__shadowGlobal, ${WEB_PARAMETERS.join(', ')}) {
${WEB_BODY}
return __raftboxWeb;
})
//# sourceURL=raftbox:runtime/web`;
