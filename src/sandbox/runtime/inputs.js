// Runs inside the isolate (see bootstrap.ts). A step's `inputs`: the named JSON values and files its
// request handed in, as a global rebuilt at the start of every step (empty when it had none). Values
// are deep-frozen copies; a file is a frozen `File` (name, type, size, text(), bytes(), arrayBuffer(),
// stream()). Both come from the step's payload, the same live and on replay.

const objectFreeze = Object.freeze;
const isFrozenObject = Object.isFrozen;

function deepFreeze(value) {
  if (typeof value !== 'object' || value === null || isFrozenObject(value)) return value;
  objectFreeze(value);
  const keys = ownKeys(value);
  for (let i = 0; i < keys.length; i++) deepFreeze(value[keys[i]]);
  return value;
}

/**
 * `valuesJson`: a JSON object text of the values ('' for none); `fileNames` and `fileTypes`: the
 * files' names and media types, `fileBuffers` their bytes (ArrayBuffers copied in for this step).
 */
function beginInputs(global, valuesJson, fileNames, fileTypes, fileBuffers) {
  const inputs = valuesJson === '' ? {} : jsonParse(valuesJson);
  if (fileNames.length > 0) {
    const platform = loadWeb();
    for (let i = 0; i < fileNames.length; i++) {
      inputs[fileNames[i]] = objectFreeze(new platform.File([fileBuffers[i]], fileNames[i], { type: fileTypes[i], lastModified: 0 }));
    }
  }
  const value = deepFreeze(inputs);
  // A pooled context's global is reset by assignment (lockdown.js), so `inputs` is one of its own
  // writable globals and is assigned here too; a session may have replaced it with anything.
  const desc = getOwnPropertyDescriptor(global, 'inputs');
  if (desc !== undefined && 'value' in desc && desc.writable) global.inputs = value;
  else Object.defineProperty(global, 'inputs', { value, writable: true, configurable: true });
}

/** `inputs` exists from bootstrap on (empty), so pooled contexts count it among their own globals. */
function installInputs(global) {
  Object.defineProperty(global, 'inputs', { value: objectFreeze({}), writable: true, configurable: true });
}
