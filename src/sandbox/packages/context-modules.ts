import ivm from 'isolated-vm';
import type { PreparedContext } from '../runtime/bootstrap.ts';
import type { Bundle } from './bundle.ts';
import type { ResolvedModules } from './package-set.ts';

// Per isolate, each bundle is compiled once; V8's code cache of its first compile in this process
// makes the later compiles (a new session's isolate) cheaper.
const compiled = new WeakMap<ivm.Isolate, Map<string, ivm.Script>>();
const codeCache = new Map<string, ivm.ExternalCopy<ArrayBuffer>>();
// Per context, the hashes whose factories it holds already (a pooled context keeps them across runs;
// only the instances are fresh per run).
const defined = new WeakMap<ivm.Context, Set<string>>();

/**
 * Gives the context the factories of `bundles` it lacks. Each factory is a function; nothing runs
 * until the step imports the module. Must be called while no step runs in the context.
 */
export async function defineBundles(isolate: ivm.Isolate, prepared: PreparedContext, bundles: readonly Bundle[]): Promise<void> {
  let have = defined.get(prepared.context);
  if (!have) defined.set(prepared.context, (have = new Set()));
  const missing = bundles.filter((b) => !have.has(b.hash));
  if (missing.length === 0) return;
  const factories: ivm.Reference<unknown>[] = [];
  try {
    const args: [command: 'define', ...rest: Array<string | ivm.Copy<unknown> | ivm.Reference<unknown>>] = ['define'];
    for (const bundle of missing) {
      const script = await compile(isolate, bundle);
      const factory = (await script.run(prepared.context, { reference: true })) as ivm.Reference<unknown>;
      factories.push(factory);
      args.push(bundle.hash, factory.derefInto() as unknown as ivm.Reference<unknown>);
    }
    await prepared.driver.apply(undefined, args);
    for (const bundle of missing) have.add(bundle.hash);
  } finally {
    for (const f of factories) f.release();
  }
}

async function compile(isolate: ivm.Isolate, bundle: Bundle): Promise<ivm.Script> {
  let scripts = compiled.get(isolate);
  if (!scripts) compiled.set(isolate, (scripts = new Map()));
  const hit = scripts.get(bundle.hash);
  if (hit) return hit;
  const cachedData = codeCache.get(bundle.hash);
  const filename = `node_modules/${bundle.name}@${bundle.version}.js`;
  // isolated-vm sets these on the script (its typings leave them out).
  const script = (await isolate.compileScript(bundle.code, cachedData ? { filename, cachedData } : { filename, produceCachedData: true })) as ivm.Script &
    ivm.CachedDataResult & { cachedDataRejected?: boolean };
  if (!cachedData && script.cachedData) codeCache.set(bundle.hash, script.cachedData);
  else if (cachedData && script.cachedDataRejected) codeCache.delete(bundle.hash);
  scripts.set(bundle.hash, script);
  return script;
}

/** The per-step part of the payload the in-isolate registry reads ('' when the step names no module). */
export function bindingsJson(resolved: ResolvedModules | null): string {
  if (resolved === null || (resolved.bundles.length === 0 && Object.keys(resolved.errors).length === 0)) return '';
  return JSON.stringify({ b: resolved.bindings, e: resolved.errors });
}
