// esbuild `inject` (see runtime/web-bundle.ts): whatwg-url's bare TextEncoder/TextDecoder are ours.
export { TextEncoder, TextDecoder } from './encoding.js';
