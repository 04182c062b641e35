import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build, type Message, type Plugin } from 'esbuild';
import { INTERNAL_BUNDLES, PROVIDED_BUILTINS, absentBuiltinMessage, builtinName } from './node-builtins.ts';
import { wasmImports } from './wasm-imports.ts';

/** Which bundle a specifier resolved to: what a session's journal records for each import. */
export interface PackageRef {
  /** The approved specifier (`lodash`, `date-fns/locale`) or a built-in as `node:path`. */
  name: string;
  version: string;
  /** sha256 of `code`, hex. */
  hash: string;
}

/** One self-contained script for the isolate: evaluates to `(module, exports, require) => void`. */
export interface Bundle extends PackageRef {
  code: string;
  /** Built-ins it requires at run time (bare names, e.g. `buffer`, or internal bundles as `raftbox:x`): they are loaded with it. */
  deps: string[];
}

/** A package the sandbox cannot give what it needs; raised at start, naming the package and the module. */
export class PackageRefusedError extends Error {
  override readonly name = 'PackageRefusedError';
}

/** Bumped when the way bundles are made changes, so cached bundles of older builds are not reused. */
export const BUNDLE_FORMAT = 2;

export interface BundleInput {
  ref: Omit<PackageRef, 'hash'>;
  /** What `require` names in the entry, resolved from `resolveDir`. */
  entry: string;
  resolveDir: string;
  /** Paths in the bundle's comments are relative to it, so that the same install gives the same hash on every node. */
  workingDir: string;
  /** esbuild's `alias`: a dependency replaced by another module. */
  alias?: Record<string, string>;
}

/**
 * Bundles one module with esbuild into a CommonJS factory. Node built-ins stay `require` calls that
 * the in-isolate registry answers (one instance per context, shared by every package, as in Node);
 * a package that reaches for a refused built-in or a native addon is refused.
 */
export async function bundleModule(input: BundleInput): Promise<Bundle> {
  const deps = new Set<string>();
  const refusals: string[] = [];
  let result;
  try {
    result = await build({
      stdin: { contents: `module.exports = require(${JSON.stringify(input.entry)});`, resolveDir: input.resolveDir, sourcefile: 'entry.js', loader: 'js' },
      absWorkingDir: input.workingDir,
      bundle: true,
      write: false,
      format: 'cjs',
      platform: 'browser',
      // The isolate's V8 is Node 24's: esnext would emit what it lacks (Uint8Array.fromBase64 for embedded bytes).
      target: 'node24',
      define: { global: 'globalThis' },
      legalComments: 'none',
      metafile: true,
      logLevel: 'silent',
      alias: input.alias ?? {},
      plugins: [sandboxImports(deps, refusals), wasmImports(input.workingDir)],
    });
  } catch (err) {
    const first = (err as { errors?: Message[] }).errors?.[0];
    throw new PackageRefusedError(`package ${input.ref.name} cannot be bundled: ${first ? describe(first) : String(err)}`);
  }
  const native = nativeAddon(input.workingDir, Object.keys(result.metafile.inputs));
  if (native !== null) refusals.push(`a native addon (${native})`);
  if (refusals.length > 0) {
    throw new PackageRefusedError(`package ${input.ref.name} needs what the sandbox cannot give: ${[...new Set(refusals)].join('; ')}`);
  }
  const text = result.outputFiles[0]!.text;
  const self = builtinName(input.ref.name);
  // Code written for browserify-era bundlers uses a free `Buffer`; the global getter needs its module.
  if (self !== 'buffer' && /\bBuffer\b/.test(text)) deps.add('buffer');
  const code = `(function (module, exports, require) {\n${text}\n})\n//# sourceURL=node_modules/${input.ref.name}@${input.ref.version}.js`;
  return { ...input.ref, hash: sha256(code), code, deps: [...deps].sort() };
}

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

function sandboxImports(deps: Set<string>, refusals: string[]): Plugin {
  return {
    name: 'raftbox-sandbox-imports',
    setup(b) {
      b.onResolve({ filter: /^raftbox:/ }, (args) => {
        if (Object.hasOwn(INTERNAL_BUNDLES, args.path)) deps.add(args.path);
        return { path: args.path, external: true };
      });
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        const name = builtinName(args.path);
        if (name === null) return undefined;
        if (Object.hasOwn(PROVIDED_BUILTINS, name)) deps.add(name);
        else refusals.push(`${absentBuiltinMessage(name)} (imported by ${args.importer || 'its entry'})`);
        return { path: args.path, external: true };
      });
      b.onResolve({ filter: /\.node$/ }, (args) => {
        refusals.push(`a native addon (${args.path}, imported by ${args.importer})`);
        return { path: args.path, external: true };
      });
    },
  };
}

/** A package among the bundle's inputs that builds a native addon (binding.gyp or `gypfile`). */
function nativeAddon(workingDir: string, inputs: string[]): string | null {
  const roots = new Set<string>();
  for (const input of inputs) {
    const at = input.lastIndexOf('node_modules/');
    if (at < 0) continue;
    const rest = input.slice(at + 'node_modules/'.length).split('/');
    const name = rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
    roots.add(input.slice(0, at) + 'node_modules/' + name);
  }
  for (const root of roots) {
    const dir = join(workingDir, root);
    if (existsSync(join(dir, 'binding.gyp'))) return `${root}/binding.gyp`;
    try {
      if ((JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { gypfile?: unknown }).gypfile === true) return `${root}/package.json gypfile`;
    } catch {
      // No readable package.json: nothing says it is native.
    }
  }
  return null;
}

function describe(m: Message): string {
  return m.location ? `${m.text} (${m.location.file}:${m.location.line})` : m.text;
}
