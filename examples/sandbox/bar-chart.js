// Runs inside the raftbox sandbox: draws a bar chart and returns it as a PNG, which comes back as an
// MCP `image` block (and as the artifact `result.png` over REST). No package needed: the pixels are
// drawn by hand, compressed with the sandbox's CompressionStream (zlib) and framed as PNG chunks.
// The data: `inputs.values` when the call hands it in, else a sample.
const values = inputs.values ?? [3, 7, 4, 9, 6, 2, 8];
const width = 320;
const height = 200;
const pixels = new Uint8Array(width * height * 3).fill(255); // RGB, white

function rect(x0, y0, x1, y1, [r, g, b]) {
  for (let y = Math.max(0, y0); y < Math.min(height, y1); y++) {
    for (let x = Math.max(0, x0); x < Math.min(width, x1); x++) {
      const i = (y * width + x) * 3;
      pixels[i] = r;
      pixels[i + 1] = g;
      pixels[i + 2] = b;
    }
  }
}

const margin = 20;
const max = Math.max(...values);
const slot = (width - 2 * margin) / values.length;
rect(margin, height - margin, width - margin, height - margin + 2, [40, 40, 40]); // x axis
values.forEach((v, i) => {
  const barHeight = Math.round((v / max) * (height - 2 * margin));
  const x = Math.round(margin + i * slot + slot * 0.15);
  rect(x, height - margin - barHeight, Math.round(x + slot * 0.7), height - margin, [66, 133, 244]);
});

// PNG: signature, IHDR, IDAT (zlib of the filtered scanlines), IEND; each chunk with its CRC-32.
const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}
const header = new Uint8Array(13);
new DataView(header.buffer).setUint32(0, width);
new DataView(header.buffer).setUint32(4, height);
header.set([8, 2, 0, 0, 0], 8); // 8 bits per channel, RGB, deflate, no filter method, no interlace
const scanlines = new Uint8Array(height * (1 + width * 3));
for (let y = 0; y < height; y++) scanlines.set(pixels.subarray(y * width * 3, (y + 1) * width * 3), y * (1 + width * 3) + 1);
const compressed = new Uint8Array(await new Response(new Blob([scanlines]).stream().pipeThrough(new CompressionStream('deflate'))).arrayBuffer());
const signature = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]);
new Blob([signature, chunk('IHDR', header), chunk('IDAT', compressed), chunk('IEND', new Uint8Array())], { type: 'image/png' });
