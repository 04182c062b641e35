import { readFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { Plugin } from 'esbuild';

const RESOLVING = Symbol('resolving');

interface ImportDescriptor {
  module: string;
  name: string;
  kind: string;
}
// The ES libs type no WebAssembly (only "dom" does): the two calls used here.
const { WebAssembly: wasm } = globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<object>; Module: { imports(module: object): ImportDescriptor[] } } };

/**
 * `import * as wasm from './x.wasm'` as the WebAssembly/ES module integration (and bundlers'
 * wasm-bindgen `bundler` targets) mean it: the module's bytes are embedded in the bundle, and on
 * first import it is compiled and instantiated synchronously, each of its import modules being the JS
 * module of that name beside the .wasm file. Synchronous so that a package such as brotli-wasm can
 * serve sync APIs; compiling runs on the isolate's thread, against the step's CPU limit, and the
 * sandbox's WebAssembly guards (runtime/wasm.js) bound its memory like any other module's.
 */
export function wasmImports(workingDir: string): Plugin {
  return {
    name: 'raftbox-wasm-imports',
    setup(b) {
      b.onResolve({ filter: /\.wasm$/ }, async (args) => {
        // esbuild's own resolution of the path (b.resolve runs this callback again: the mark ends that).
        if (args.pluginData === RESOLVING) return undefined;
        const resolved = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: RESOLVING });
        if (resolved.errors.length > 0) return { errors: resolved.errors };
        // Relative, as the bundle's other paths are: the same install gives the same hash on every node.
        return { path: relative(workingDir, resolved.path), namespace: 'wasm-instance' };
      });
      b.onResolve({ filter: /\.wasm\?bytes$/, namespace: 'wasm-instance' }, (args) => ({ path: args.path.slice(0, -'?bytes'.length), namespace: 'wasm-bytes' }));
      b.onLoad({ filter: /.*/, namespace: 'wasm-bytes' }, async (args) => ({ contents: await readFile(join(workingDir, args.path)), loader: 'binary' }));
      b.onLoad({ filter: /.*/, namespace: 'wasm-instance' }, async (args) => {
        const file = join(workingDir, args.path);
        const imports = wasm.Module.imports(await wasm.compile(await readFile(file)));
        return { resolveDir: dirname(file), loader: 'js', contents: instantiation(args.path, imports) };
      });
    },
  };
}

/**
 * The module's JS: function imports reach their module on first call, since that module usually
 * imports this one (wasm-bindgen's glue does): requiring it here would hand it our unfinished exports.
 */
function instantiation(path: string, imports: ImportDescriptor[]): string {
  const modules = [...new Set(imports.map((i) => i.module))];
  const lines = [`const bytes = require(${JSON.stringify(path + '?bytes')});`, 'const loaded = [];'];
  const objects = modules.map((m, n) => {
    const load = `(loaded[${n}] ??= require(${JSON.stringify(m)}))`;
    const fields = imports
      .filter((i) => i.module === m)
      .map((i) => `${JSON.stringify(i.name)}: ${i.kind === 'function' ? `(...args) => ${load}[${JSON.stringify(i.name)}](...args)` : `${load}[${JSON.stringify(i.name)}]`}`);
    return `${JSON.stringify(m)}: { ${fields.join(', ')} }`;
  });
  lines.push(`module.exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), { ${objects.join(', ')} }).exports;`);
  return lines.join('\n');
}
