// Draws the desktop app's icons and writes them as PNG: build/icon.png (512 px, from which
// electron-builder makes the .icns, .ico and Linux sizes), assets/icon.png (the window icon) and
// the tray icons in assets/tray/. The outputs are committed; run `node scripts/make-icons.mjs`
// after changing the drawing. Why hand-drawn: docs/decisions/0007-icons-drawn-by-a-script.md.
//
// The mark: a suspension bridge (towers, cables, deck) in white on a blue rounded square. Shapes are signed distance functions in unit coordinates (0..1, y down), each pixel
// supersampled 4x4 for anti-aliasing.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';

const root = new URL('..', import.meta.url).pathname;

// ---- shapes: signed distance (negative inside) ----

const roundRect = (cx, cy, hw, hh, r) => (x, y) => {
  const qx = Math.abs(x - cx) - hw + r;
  const qy = Math.abs(y - cy) - hh + r;
  return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - r;
};

const segment = (ax, ay, bx, by, halfWidth) => (x, y) => {
  const px = x - ax;
  const py = y - ay;
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.max(0, Math.min(1, (px * dx + py * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - dx * t, py - dy * t) - halfWidth;
};

/** The upper half of a ring (an arch), with round ends. */
const arch = (cx, cy, radius, halfWidth) => (x, y) => {
  if (y <= cy) return Math.abs(Math.hypot(x - cx, y - cy) - radius) - halfWidth;
  return Math.min(Math.hypot(x - (cx - radius), y - cy), Math.hypot(x - (cx + radius), y - cy)) - halfWidth;
};

const circle = (cx, cy, r) => (x, y) => Math.hypot(x - cx, y - cy) - r;

const union = (...shapes) => (x, y) => Math.min(...shapes.map((s) => s(x, y)));

// ---- the mark ----

/** A curve as a polyline of capsules: `f(t)` for t in 0..1. */
const curve = (f, halfWidth, steps = 24) => {
  const parts = [];
  for (let k = 0; k < steps; k++) {
    const [ax, ay] = f(k / steps);
    const [bx, by] = f((k + 1) / steps);
    parts.push(segment(ax, ay, bx, by, halfWidth));
  }
  return union(...parts);
};

/**
 * A suspension bridge inside the unit square: two towers, the main cable sagging between them and
 * down to the banks, the deck; `detail` adds hangers, and tray sizes leave out the side spans.
 */
function bridge({ detail, stroke, scale = 1, offsetY = 0, sideSpans = true }) {
  const X = (v) => 0.5 + (v - 0.5) * scale;
  const Y = (v) => 0.5 + (v - 0.5) * scale + offsetY;
  const w = stroke * scale;
  const deckY = Y(0.64);
  const topY = Y(0.26);
  const sagY = Y(0.54);
  const [left, right] = [X(0.3), X(0.7)];
  const [bankL, bankR] = [X(0.06), X(0.94)];
  // main span: a parabola through both tower tops, lowest midway
  const main = (t) => [left + (right - left) * t, topY + (sagY - topY) * (1 - (2 * t - 1) ** 2)];
  // side spans: from a tower top down to the deck at the bank, sagging below the straight line
  const side = (from, to) => (t) => [from + (to - from) * t, topY + (deckY - topY) * (t + 0.55 * t * (1 - t))];
  const parts = [
    segment(left, topY - w, left, Y(0.82), w * 1.15),
    segment(right, topY - w, right, Y(0.82), w * 1.15),
    segment(bankL, deckY, bankR, deckY, w * 1.1),
    curve(main, w * 0.8),
    ...(sideSpans ? [curve(side(left, bankL), w * 0.8), curve(side(right, bankR), w * 0.8)] : []),
  ];
  if (detail) {
    for (const t of [0.2, 0.35, 0.5, 0.65, 0.8]) {
      const [x, y] = main(t);
      parts.push(segment(x, y, x, deckY, w * 0.4));
    }
    for (const [from, to] of [[left, bankL], [right, bankR]]) {
      for (const t of [0.35, 0.65]) {
        const [x, y] = side(from, to)(t);
        parts.push(segment(x, y, x, deckY, w * 0.4));
      }
    }
  }
  return union(...parts);
}

const BLUE_TOP = [37, 99, 235];
const BLUE_BOTTOM = [30, 64, 175];
const WHITE = [255, 255, 255];
const RED = [220, 38, 38];
const BLACK = [0, 0, 0];

/** Layers painted bottom to top: each a shape and a colour (a function of y for the gradient). */
function render(size, layers) {
  const px = new Uint8Array(size * size * 4);
  const n = 4;
  for (let j = 0; j < size; j++) {
    for (let i = 0; i < size; i++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let a = 0;
      for (const { shape, color } of layers) {
        let hits = 0;
        for (let sy = 0; sy < n; sy++) {
          for (let sx = 0; sx < n; sx++) {
            if (shape((i + (sx + 0.5) / n) / size, (j + (sy + 0.5) / n) / size) <= 0) hits++;
          }
        }
        const cov = hits / (n * n);
        if (cov === 0) continue;
        const c = typeof color === 'function' ? color((j + 0.5) / size) : color;
        // "over" compositing, premultiplied
        r = c[0] * cov + r * (1 - cov);
        g = c[1] * cov + g * (1 - cov);
        b = c[2] * cov + b * (1 - cov);
        a = cov + a * (1 - cov);
      }
      const o = (j * size + i) * 4;
      px[o] = a ? Math.round(r / a) : 0;
      px[o + 1] = a ? Math.round(g / a) : 0;
      px[o + 2] = a ? Math.round(b / a) : 0;
      px[o + 3] = Math.round(a * 255);
    }
  }
  return px;
}

function png(size, rgba) {
  const chunk = (type, data) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'ascii');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0; // filter: none
    Buffer.from(rgba.buffer, y * size * 4, size * 4).copy(raw, y * (size * 4 + 1) + 1);
  }
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

const gradient = (t) => BLUE_TOP.map((c, k) => Math.round(c + (BLUE_BOTTOM[k] - c) * t));

/** The app icon: macOS-style margins around a rounded square. */
function appIcon(size) {
  return render(size, [
    { shape: roundRect(0.5, 0.5, 0.41, 0.41, 0.09), color: gradient },
    { shape: bridge({ detail: size >= 64, stroke: 0.022, scale: 0.78, offsetY: 0.01 }), color: WHITE },
  ]);
}

/** Tray (Windows, Linux): the square fills the icon; `attention` adds a red dot with a white ring. */
function trayIcon(size, attention) {
  const layers = [
    { shape: roundRect(0.5, 0.5, 0.5, 0.5, 0.2), color: gradient },
    { shape: bridge({ detail: false, stroke: 0.04, scale: 0.95, offsetY: 0.03 }), color: WHITE },
  ];
  if (attention) {
    layers.push({ shape: circle(0.8, 0.2, 0.24), color: WHITE }, { shape: circle(0.8, 0.2, 0.18), color: RED });
  }
  return render(size, layers);
}

/** macOS menu bar: a black glyph the system recolours (a "Template" image). */
function trayTemplate(size) {
  return render(size, [{ shape: bridge({ detail: false, stroke: 0.042, scale: 1.1, offsetY: 0 }), color: BLACK }]);
}

function write(file, size, rgba) {
  const path = join(root, file);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, png(size, rgba));
  process.stdout.write(`${file} (${size}x${size})\n`);
}

write('build/icon.png', 512, appIcon(512));
write('assets/icon.png', 256, appIcon(256));
for (const [suffix, size] of [['', 16], ['@2x', 32]]) {
  write(`assets/tray/tray${suffix}.png`, size, trayIcon(size, false));
  write(`assets/tray/tray-attention${suffix}.png`, size, trayIcon(size, true));
  write(`assets/tray/trayTemplate${suffix}.png`, size, trayTemplate(size));
}
