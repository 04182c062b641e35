// esbuild `inject` (see runtime/web-bundle.ts): urlpattern-polyfill's bare URL is whatwg-url's.
export { URL } from './url.js';
