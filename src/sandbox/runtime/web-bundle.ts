import type { Plugin } from 'esbuild';
import { readBundleCache, writeBundleCache } from './bundle-cache.ts';

/**
 * The web platform (src/sandbox/web) and the step's CSPRNG, bundled with esbuild for the isolate when
 * this module loads. Each module of src/sandbox/web named in WEB_MODULES is a bundle of its own, so a
 * context parses only the modules it uses (the URL module with its IDNA tables alone is 330 kB); a
 * module's imports of the others become calls of `__provide(name)`, which loads that bundle once.
 * Each bundle is a function whose constants shadow every global it could read, taken from the globals
 * as they were at bootstrap: what it sees never depends on what user code did to the global object
 * before its first use. The isolate reads a bundle's text through a host callback on that first use,
 * so a new context compiles none of it.
 */

// Globals polyfills feature-detect (or that user code could plant): undefined to the bundles even
// where the runtime has them.
export const WEB_HIDDEN = [
  'window', 'self', 'global', 'process', 'Buffer', 'require', 'module', 'exports', 'define', 'document', 'navigator',
  'location', 'console', 'fetch', 'crypto', 'performance', 'WebAssembly', 'dispatchEvent', 'ErrorEvent', 'Atomics',
  'setInterval', 'clearInterval', 'setImmediate', 'structuredClone',
];

/** The modules that are bundles of their own; 'index' (createWebPlatform) is the one loaded first. */
export const WEB_MODULES = [
  'index', 'dom-exception', 'events', 'encoding', 'base64', 'url', 'structured-clone', 'streams', 'compression', 'blob',
  'form-data', 'headers', 'fetch-body', 'fetch', 'subtle',
] as const;
export type WebModule = (typeof WEB_MODULES)[number];

// Globals some bundled packages use by bare name, per module: esbuild `inject` makes them that module's
// imports (only what a module needs: every injected import is a module its bundle loads).
const INJECT: Partial<Record<WebModule, string[]>> = {
  url: ['inject-encoding.js', 'inject-url.js'],
  streams: ['inject-dom-exception.js'],
  encoding: ['inject-streams.js'],
};

// Not usable as the name of a constant.
const RESERVED = new Set(['eval', 'arguments', 'let', 'static', 'yield', 'await', 'implements', 'package', 'protected', 'interface', 'private', 'public', 'enum']);

/**
 * Every name a bundle could read as a free variable: an over-approximation (every identifier token
 * not right after a dot), which is harmless, since the bundle's own declarations shadow the constants.
 */
async function identifierNames(code: string): Promise<string[]> {
  const { tokenizer } = await import('acorn');
  const names = new Set<string>();
  let afterDot = false;
  for (const token of tokenizer(code, { ecmaVersion: 'latest' })) {
    const value = (token as unknown as { value: unknown }).value;
    if (token.type.label === 'name' && !afterDot && typeof value === 'string' && !RESERVED.has(value)) names.add(value);
    afterDot = token.type.label === '.' || token.type.label === '?.';
  }
  return [...names].sort();
}

const webFile = (file: string) => new URL(`../web/${file}`, import.meta.url).pathname;

/** Imports of another web module resolve to that module's bundle, loaded through `__provide`. */
function provided(current: string): Plugin {
  const others = new Set<string>(WEB_MODULES.filter((m) => m !== current));
  return {
    name: 'raftbox-provided',
    setup(build) {
      build.onResolve({ filter: /^\.\/[a-z0-9-]+\.js$/ }, (args) => {
        const name = args.path.slice(2, -3);
        return others.has(name) ? { path: name, namespace: 'raftbox-provided' } : undefined;
      });
      build.onLoad({ filter: /.*/, namespace: 'raftbox-provided' }, (args) => ({
        contents: `module.exports = __provide(${JSON.stringify(args.path)});`,
        loader: 'js',
      }));
    },
  };
}

async function bundle(entry: string, globalName: string, options: { inject?: string[]; plugins?: Plugin[] } = {}): Promise<{ text: string; inputs: string[] }> {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [webFile(entry)],
    // Packages (and the alias below) resolve from here, whatever the process's working directory.
    absWorkingDir: webFile(''),
    inject: (options.inject ?? []).map(webFile),
    plugins: options.plugins ?? [],
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
    metafile: true,
  });
  // Paths relative to absWorkingDir; the plugin's own modules (`raftbox-provided:…`) are no files.
  const files = Object.keys(result.metafile.inputs).filter((f) => !/^[a-z-]+:/.test(f));
  return { text: result.outputFiles[0]!.text, inputs: files.map((f) => new URL(f, `file://${webFile('')}`).pathname) };
}

/**
 * A function expression per module: (__shadowGlobal, __provide) => the module's exports. Every name the
 * bundle could read freely is a constant taken from __shadowGlobal (the globals at bootstrap, less
 * WEB_HIDDEN).
 */
async function moduleSource(name: WebModule): Promise<{ source: [WebModule, string]; inputs: string[] }> {
  const { text: body, inputs } = await bundle(`${name}.js`, '__raftboxWeb', { inject: INJECT[name] ?? [], plugins: [provided(name)] });
  const free = (await identifierNames(body)).filter((n) => !['__shadowGlobal', '__provide', '__raftboxWeb'].includes(n));
  const source = `(function (__shadowGlobal, __provide) {
const { ${free.join(', ')} } = __shadowGlobal;
${body}
return __raftboxWeb;
})
//# sourceURL=raftbox:runtime/web/${name}`;
  return { source: [name, source], inputs };
}

interface Bundles {
  /** `const csprng = …` for the runtime's closure: seed(words), fill(bytes), uint32(). */
  csprng: string;
  modules: Array<[WebModule, string]>;
}

/** Every bundle, built (~1 s, mostly esbuild), and the files they were built from. */
async function buildBundles(): Promise<{ bundles: Bundles; inputs: string[] }> {
  const [csprng, ...modules] = await Promise.all([bundle('random.js', 'csprng'), ...WEB_MODULES.map(moduleSource)]);
  // This file holds the build options, and esbuild's own entry point changes with its version.
  const tools = [import.meta.url, import.meta.resolve('esbuild'), import.meta.resolve('acorn')].map((u) => new URL(u).pathname);
  return {
    bundles: { csprng: csprng!.text.replace(/^var csprng=/, 'const csprng='), modules: modules.map((m) => m.source) },
    inputs: [...new Set([...tools, ...csprng!.inputs, ...modules.flatMap((m) => m.inputs)])],
  };
}

// Plugins need esbuild's asynchronous API: the bundles are ready before any module importing this one
// runs. Every node start and every test's server would spend that second again, so the bundles are
// kept on disk while none of the files they were built from (this one included) has changed.
// Beside the dependencies the bundles are built from, where tools keep such caches; never in the data dir.
const CACHE_FILE = new URL('../../../node_modules/.cache/raftbox/web-bundles.json', import.meta.url).pathname;

async function freshBundles(): Promise<Bundles> {
  const since = Date.now();
  const { bundles, inputs } = await buildBundles();
  writeBundleCache(CACHE_FILE, inputs, bundles, since);
  return bundles;
}
const bundles = readBundleCache<Bundles>(CACHE_FILE) ?? (await freshBundles());

export const CSPRNG_SOURCE = bundles.csprng;
export const WEB_SOURCES: ReadonlyMap<string, string> = new Map(bundles.modules);
