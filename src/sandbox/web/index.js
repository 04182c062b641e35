// The web platform an agent's code expects (WinterTC Minimum Common API), built inside the isolate.
// runtime/web-platform.js evaluates this bundle in each context (lazily in a session, at bootstrap in a
// pooled context, before its intrinsics are frozen) and installs what it returns as globals. `host` is
// the runtime's own: the virtual-clock timer, the uncaught-error report, the step's ChaCha20 bytes. `crypto` itself is the runtime's
// (randomUUID should not need this bundle); its `subtle` getter answers `subtle` from here.
import { DOMException } from './dom-exception.js';
import { Event, EventTarget, CustomEvent, ErrorEvent, createWebEvents } from './events.js';
import { TextEncoder, TextDecoder, TextEncoderStream, TextDecoderStream } from './encoding.js';
import { atob, btoa } from './base64.js';
import { URL, URLSearchParams, URLPattern } from './url.js';
import { structuredClone } from './structured-clone.js';
import * as streams from './streams.js';
import { CompressionStream, DecompressionStream } from './compression.js';
import { Blob, File } from './blob.js';
import { FormData } from './form-data.js';
import { Headers } from './headers.js';
import { createFetchClasses } from './fetch-body.js';
import { CryptoKey, createSubtle } from './subtle.js';

function illegalConstructor(name, key) {
  const C = {
    [name]: class {
      constructor(token = undefined) {
        if (token !== key) throw new TypeError('Illegal constructor');
      }
    },
  }[name];
  Object.defineProperty(C.prototype, Symbol.toStringTag, { value: name, configurable: true });
  return C;
}

export function createWebPlatform(host) {
  const { AbortController, AbortSignal, onAbort } = createWebEvents(host);
  const randomBytes = (n) => host.fillRandom(new Uint8Array(n));
  const randomHex = () => Array.from(randomBytes(12), (b) => b.toString(16).padStart(2, '0')).join('');
  const { Request, Response } = createFetchClasses({ AbortController, AbortSignal, onAbort, randomHex });

  const token = Symbol('crypto');
  const SubtleCrypto = illegalConstructor('SubtleCrypto', token);
  for (const [name, fn] of Object.entries(createSubtle(randomBytes))) {
    Object.defineProperty(SubtleCrypto.prototype, name, { value: fn, writable: true, enumerable: true, configurable: true });
  }
  const subtle = new SubtleCrypto(token);
  return {
    DOMException, Event, EventTarget, CustomEvent, ErrorEvent, AbortController, AbortSignal,
    TextEncoder, TextDecoder, TextEncoderStream, TextDecoderStream, atob, btoa,
    URL, URLSearchParams, URLPattern, structuredClone,
    ...streams, CompressionStream, DecompressionStream,
    Blob, File, FormData, Headers, Request, Response,
    CryptoKey, SubtleCrypto, subtle,
  };
}
