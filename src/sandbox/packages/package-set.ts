import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { version as esbuildVersion } from 'esbuild';
import semver from 'semver';
import { BUNDLE_FORMAT, PackageRefusedError, bundleModule, sha256, type Bundle, type PackageRef } from './bundle.ts';
import { BundleStore } from './bundle-store.ts';
import { INTERNAL_BUNDLES, PROVIDED_BUILTINS, absentBuiltinMessage, builtinName } from './node-builtins.ts';

export interface PackageSetOptions {
  /** Approved specifiers, each `name`, `name@range` or a subpath such as `date-fns/locale`. */
  packages: readonly string[];
  /** The directory the operator installed them into (it holds `node_modules/`). */
  packagesDir: string;
  /** Where bundles are kept between starts (see BundleStore). */
  storeDir: string;
}

/** What one step may import, resolved on the host before it runs. */
export interface ResolvedModules {
  /** To define in the context before the step (each is evaluated there on first import only). */
  bundles: Bundle[];
  /** Specifier → bundle hash, as the in-isolate registry looks them up (`path` and `node:path` alike). */
  bindings: Record<string, string>;
  /** Specifier → the error its import throws (not approved, refused built-in). */
  errors: Record<string, string>;
  /** The bundles the step's imports resolved to, for the journal. */
  refs: PackageRef[];
}

/** A step needs a bundle (recorded in its session's journal) that this node does not have. */
export class PackageUnavailableError extends Error {
  override readonly name = 'PackageUnavailableError';
  readonly ref: PackageRef;
  constructor(ref: PackageRef) {
    super(
      `this node does not have ${ref.name}@${ref.version} (bundle ${ref.hash.slice(0, 12)}), which this session imported; ` +
        'install that version on this node or continue the session on a node that has it (GET /cluster/status lists each node\'s packages)',
    );
    this.ref = ref;
  }
}

/** raftbox's own directory: the default packages dir, and where the built-ins' polyfills are installed. */
export const RAFTBOX_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const ROOT = RAFTBOX_ROOT;
const BUILTINS_DIR = fileURLToPath(new URL('./builtins/', import.meta.url));
// readable-stream falls back to this package where AbortController is not a global; its browser
// build expects the global too, its own implementation does not. brotli-wasm's exports map offers
// only entries that load it asynchronously; node:zlib's sync API needs its bundler build.
const BUILTIN_ALIASES = {
  'abort-controller': 'abort-controller/dist/abort-controller.js',
  'brotli-wasm': join(dirname(createRequire(import.meta.url).resolve('brotli-wasm')), 'pkg.bundler', 'brotli_wasm.js'),
};

/**
 * The modules this node's sandboxes may import: the operator's approved packages and the Node
 * built-ins, each bundled once (at start, or taken from the store) into a self-contained script.
 */
export class PackageSet {
  readonly #store: BundleStore | null;
  readonly #current: ReadonlyMap<string, Bundle>;
  private constructor(store: BundleStore | null, current: ReadonlyMap<string, Bundle>) {
    this.#store = store;
    this.#current = current;
  }

  /** No modules at all: every import is an error that says so (sandboxes built without a package set). */
  static none(): PackageSet {
    return new PackageSet(null, new Map());
  }

  /** Bundles every approved package and built-in; a package the sandbox cannot serve fails it with PackageRefusedError. */
  static async load(options: PackageSetOptions): Promise<PackageSet> {
    const store = new BundleStore(options.storeDir);
    const [ownVersion, ownLock, lock] = await Promise.all([
      readFile(join(ROOT, 'package.json'), 'utf8').then((t) => (JSON.parse(t) as { version: string }).version),
      readFile(join(ROOT, 'node_modules', '.package-lock.json'), 'utf8').catch(() => ''),
      readFile(join(options.packagesDir, 'node_modules', '.package-lock.json'), 'utf8').catch(() => ''),
    ]);
    const own: Array<[name: string, file: string]> = [...Object.entries(PROVIDED_BUILTINS).map(([name, file]): [string, string] => [`node:${name}`, file]), ...Object.entries(INTERNAL_BUNDLES)];
    const builtins = own.map(async ([name, file]) => {
      const entry = await readFile(join(BUILTINS_DIR, file), 'utf8');
      const ref = { name, version: ownVersion };
      const key = buildKey([ref.name, ref.version, entry, ownLock]);
      return (await store.byKey(key)) ?? storeBuilt(store, key, { ref, entry: `./${file}`, resolveDir: BUILTINS_DIR, workingDir: ROOT, alias: BUILTIN_ALIASES });
    });
    const approved = options.packages.map(async (entry) => {
      const { spec, range } = parseEntry(entry);
      const { version, manifest } = await installed(options.packagesDir, spec);
      if (builtinName(spec) !== null) throw new PackageRefusedError(`package ${spec}: the name is a Node built-in, which the sandbox provides itself`);
      if (range !== null && !semver.satisfies(version, range)) {
        throw new PackageRefusedError(`package ${spec}@${range} is approved, but ${options.packagesDir} has version ${version}`);
      }
      const key = buildKey([spec, version, manifest, lock]);
      const input = { ref: { name: spec, version }, entry: spec, resolveDir: options.packagesDir, workingDir: options.packagesDir };
      return (await store.byKey(key)) ?? storeBuilt(store, key, input);
    });
    const settled = await Promise.allSettled([...builtins, ...approved]);
    const failures = settled.filter((s) => s.status === 'rejected').map((s) => (s.reason instanceof Error ? s.reason.message : String(s.reason)));
    if (failures.length > 0) throw new PackageRefusedError(failures.join('\n'));
    const current = new Map<string, Bundle>();
    for (const s of settled) if (s.status === 'fulfilled') current.set(s.value.name, s.value);
    return new PackageSet(store, current);
  }

  /** The approved packages and the built-ins, as they are now (what `packages` listings show). */
  list(): { packages: PackageRef[]; builtins: PackageRef[] } {
    const refs = [...this.#current.values()].map(({ name, version, hash }) => ({ name, version, hash }));
    const byName = (a: PackageRef, b: PackageRef) => a.name.localeCompare(b.name);
    return { packages: refs.filter((r) => !isOwn(r.name)).sort(byName), builtins: refs.filter((r) => r.name.startsWith('node:')).sort(byName) };
  }

  /**
   * The bundles `specifiers` (what a cell names) need, with their built-in dependencies. A name in
   * `pins` (what the session imported before) keeps that bundle; otherwise the current one is used.
   */
  async resolve(specifiers: readonly string[], pins: ReadonlyMap<string, PackageRef>): Promise<ResolvedModules> {
    const out: ResolvedModules = { bundles: [], bindings: {}, errors: {}, refs: [] };
    const add = async (name: string, specifiers: string[]): Promise<void> => {
      if (out.refs.some((r) => r.name === name)) return;
      const bundle = await this.#pinnedOrCurrent(name, pins.get(name));
      out.bundles.push(bundle);
      out.refs.push({ name: bundle.name, version: bundle.version, hash: bundle.hash });
      for (const s of specifiers) out.bindings[s] = bundle.hash;
      for (const dep of bundle.deps) await (Object.hasOwn(INTERNAL_BUNDLES, dep) ? add(dep, [dep]) : add(`node:${dep}`, [dep, `node:${dep}`]));
    };
    for (const specifier of specifiers) {
      const builtin = builtinName(specifier);
      if (builtin !== null && Object.hasOwn(PROVIDED_BUILTINS, builtin) && this.#current.has(`node:${builtin}`)) {
        await add(`node:${builtin}`, [builtin, `node:${builtin}`]);
      } else if (builtin !== null && !Object.hasOwn(PROVIDED_BUILTINS, builtin)) {
        out.errors[specifier] = absentBuiltinMessage(builtin);
      } else if (!isOwn(specifier) && this.#current.has(specifier)) {
        await add(specifier, [specifier]);
      } else {
        out.errors[specifier] = this.#notAvailable(specifier);
      }
    }
    return out;
  }

  /**
   * What a journal step resolved when it ran: exactly the bundles it recorded (a replay must not pick
   * up a newer version, nor a package approved since), and for the other specifiers it names, errors.
   */
  async replayed(refs: readonly PackageRef[], specifiers: readonly string[]): Promise<ResolvedModules> {
    const out: ResolvedModules = { bundles: [], bindings: {}, errors: {}, refs: [...refs] };
    for (const ref of refs) {
      const bundle = await this.#pinnedOrCurrent(ref.name, ref);
      out.bundles.push(bundle);
      const keys = ref.name.startsWith('node:') ? [ref.name, ref.name.slice('node:'.length)] : [ref.name];
      for (const key of keys) out.bindings[key] = bundle.hash;
    }
    for (const specifier of specifiers) {
      if (out.bindings[specifier] !== undefined) continue;
      const builtin = builtinName(specifier);
      out.errors[specifier] = builtin !== null && !Object.hasOwn(PROVIDED_BUILTINS, builtin) ? absentBuiltinMessage(builtin) : this.#notAvailable(specifier);
    }
    return out;
  }

  async #pinnedOrCurrent(name: string, pin: PackageRef | undefined): Promise<Bundle> {
    const current = this.#current.get(name);
    if (pin === undefined || pin.hash === current?.hash) return current!;
    const kept = await this.#store?.byHash(pin.hash);
    if (!kept) throw new PackageUnavailableError(pin);
    return kept;
  }

  #notAvailable(specifier: string): string {
    const packages = [...this.#current.values()].filter((b) => !isOwn(b.name));
    const builtins = [...this.#current.keys()].filter((n) => n.startsWith('node:')).map((n) => n.slice('node:'.length));
    if (this.#current.size === 0) return `Cannot find module '${specifier}': this sandbox has no modules`;
    const approved = packages.length === 0 ? 'none (the operator approves packages with --packages)' : packages.map((b) => `${b.name} ${b.version}`).join(', ');
    const why = /^[./]/.test(specifier)
      ? 'the sandbox has no files; import an approved package by its name'
      : specifier.startsWith('node:')
        ? 'it is not a Node built-in the sandbox knows'
        : 'it is not among the packages this server allows';
    return `Cannot find module '${specifier}': ${why}. Packages: ${approved}. Node built-ins (as x or node:x): ${builtins.sort().join(', ')}`;
  }
}

/** A built-in or an internal bundle: raftbox's own modules, not an operator's package. */
const isOwn = (name: string) => name.startsWith('node:') || Object.hasOwn(INTERNAL_BUNDLES, name);

async function storeBuilt(store: BundleStore, key: string, input: Parameters<typeof bundleModule>[0]): Promise<Bundle> {
  const bundle = await bundleModule(input);
  await store.put(key, bundle);
  return bundle;
}

function buildKey(parts: string[]): string {
  return sha256(JSON.stringify([BUNDLE_FORMAT, esbuildVersion, ...parts]));
}

/** `lodash`, `lodash@^4`, `@scope/pkg@1.x`, `date-fns/locale` → the specifier and the range, if any. */
export function parseEntry(entry: string): { spec: string; range: string | null } {
  const at = entry.lastIndexOf('@');
  if (at <= 0) return { spec: entry, range: null };
  return { spec: entry.slice(0, at), range: entry.slice(at + 1) };
}

/** The package a specifier belongs to (`@scope/name` or `name`, without a subpath). */
export function packageOf(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

async function installed(packagesDir: string, spec: string): Promise<{ version: string; manifest: string }> {
  const name = packageOf(spec);
  const manifest = await readFile(join(packagesDir, 'node_modules', name, 'package.json'), 'utf8').catch(() => null);
  if (manifest === null) {
    throw new PackageRefusedError(`package ${name} is approved but not installed in ${packagesDir} (npm install --prefix ${packagesDir} ${name})`);
  }
  const version = (JSON.parse(manifest) as { version?: unknown }).version;
  if (typeof version !== 'string') throw new PackageRefusedError(`package ${name} in ${packagesDir} has no version in its package.json`);
  return { version, manifest };
}
