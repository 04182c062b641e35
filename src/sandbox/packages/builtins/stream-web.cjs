// node:stream/web: the isolate's web-stream globals where it has them.
module.exports = {
  get ReadableStream() {
    return globalThis.ReadableStream;
  },
  get WritableStream() {
    return globalThis.WritableStream;
  },
  get TransformStream() {
    return globalThis.TransformStream;
  },
  get TextEncoderStream() {
    return globalThis.TextEncoderStream;
  },
  get TextDecoderStream() {
    return globalThis.TextDecoderStream;
  },
};
