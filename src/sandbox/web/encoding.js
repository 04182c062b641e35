// WHATWG Encoding: TextEncoder/TextDecoder and their streams from @exodus/bytes (tested against the
// WPT encoding suite). The lite build leaves out the multi-byte CJK decoders (gbk, big5, shift_jis,
// euc-jp, iso-2022-jp), which would make the bundle about twelve times larger; their labels throw
// RangeError like any unsupported label.
export { TextEncoder, TextDecoder, TextEncoderStream, TextDecoderStream } from '@exodus/bytes/encoding-lite.js';
