// esbuild `inject` (see runtime/web-bundle.ts): @exodus/bytes' bare TransformStream (its
// TextEncoderStream and TextDecoderStream) is web-streams-polyfill's.
export { TransformStream } from './streams.js';
