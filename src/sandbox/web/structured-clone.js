// structuredClone (HTML §2.7) from @ungap/structured-clone's serializer, which keeps cycles and shared
// references, Map, Set, Date, RegExp, ArrayBuffer and views, errors, BigInt and boxed primitives.
// What it refuses (functions, symbols) fails with the standard DataCloneError.
import { serialize, deserialize } from '@ungap/structured-clone';
import { DOMException } from './dom-exception.js';

export function structuredClone(value, options = undefined) {
  if (arguments.length === 0) throw new TypeError("Failed to execute 'structuredClone': 1 argument required, but only 0 present.");
  if (options?.transfer !== undefined && [...options.transfer].length > 0) {
    throw new DOMException('Transferring objects is not supported here', 'DataCloneError');
  }
  let records;
  try {
    records = serialize(value, { lossy: false });
  } catch (error) {
    throw new DOMException(`${error?.message ?? error} could not be cloned.`, 'DataCloneError');
  }
  return deserialize(records);
}
