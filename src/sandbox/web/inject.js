// esbuild `inject`: the globals some bundled packages use by bare name (whatwg-url's TextEncoder, @exodus/bytes' TransformStream,
// urlpattern-polyfill's URL, web-streams-polyfill's DOMException) resolve to this bundle's own.
export { TextEncoder, TextDecoder } from './encoding.js';
export { URL } from './url.js';
export { DOMException } from './dom-exception.js';
export { TransformStream } from './streams.js';
