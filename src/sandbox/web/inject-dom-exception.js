// esbuild `inject` (see runtime/web-bundle.ts): web-streams-polyfill's bare DOMException is ours.
export { DOMException } from './dom-exception.js';
