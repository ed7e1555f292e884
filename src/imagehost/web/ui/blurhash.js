// BlurHash decoding (woltapp/blurhash's algorithm) into a small canvas: the preview's
// placeholder while the image loads.
const DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";

function decode83(text) {
  let value = 0;
  for (const character of text) value = value * 83 + DIGITS.indexOf(character);
  return value;
}

function toLinear(value) {
  const v = value / 255;
  return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
}

function toSrgb(value) {
  const v = Math.max(0, Math.min(1, value));
  return Math.round((v <= 0.0031308 ? v * 12.92 : 1.055 * v ** (1 / 2.4) - 0.055) * 255);
}

function signPow(value, exponent) {
  return Math.sign(value) * Math.abs(value) ** exponent;
}

export function drawBlurhash(hash, canvas, width = 32, height = 32) {
  if (!hash || hash.length < 6) return false;
  const size = decode83(hash[0]);
  const nx = (size % 9) + 1;
  const ny = Math.floor(size / 9) + 1;
  if (hash.length !== 4 + 2 * nx * ny) return false;
  const maximum = (decode83(hash[1]) + 1) / 166;
  const colours = [];
  const dc = decode83(hash.slice(2, 6));
  colours.push([toLinear(dc >> 16), toLinear((dc >> 8) & 255), toLinear(dc & 255)]);
  for (let i = 1; i < nx * ny; i += 1) {
    const value = decode83(hash.slice(4 + i * 2, 6 + i * 2));
    const q = [Math.floor(value / (19 * 19)), Math.floor(value / 19) % 19, value % 19];
    colours.push(q.map((c) => signPow((c - 9) / 9, 2) * maximum));
  }
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  const pixels = context.createImageData(width, height);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const rgb = [0, 0, 0];
      for (let j = 0; j < ny; j += 1) {
        for (let i = 0; i < nx; i += 1) {
          const basis = Math.cos((Math.PI * x * i) / width) * Math.cos((Math.PI * y * j) / height);
          const colour = colours[i + j * nx];
          for (let c = 0; c < 3; c += 1) rgb[c] += colour[c] * basis;
        }
      }
      const at = 4 * (x + y * width);
      pixels.data[at] = toSrgb(rgb[0]);
      pixels.data[at + 1] = toSrgb(rgb[1]);
      pixels.data[at + 2] = toSrgb(rgb[2]);
      pixels.data[at + 3] = 255;
    }
  }
  context.putImageData(pixels, 0, 0);
  return true;
}
