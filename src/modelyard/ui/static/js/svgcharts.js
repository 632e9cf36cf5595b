// Small SVG charts drawn without a library: bars (histograms, top values), parallel coordinates, scatter.
// Text goes in through textContent only, so no value is ever parsed as markup.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function svgEl(name, attrs, parent) {
  const el = document.createElementNS(SVG_NS, name);
  Object.entries(attrs || {}).forEach(([k, v]) => el.setAttribute(k, String(v)));
  if (parent) parent.appendChild(el);
  return el;
}

function svgText(parent, x, y, text, anchor) {
  const t = svgEl("text", { x, y, "text-anchor": anchor || "start" }, parent);
  t.textContent = text;
  return t;
}

function fmt(v) {
  if (typeof v !== "number") return String(v);
  if (Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3)) return v.toExponential(2);
  return String(Math.round(v * 1000) / 1000);
}

// bars: [{label, value}] drawn as vertical bars with a label under the first, middle and last.
function bars(container, items, opts) {
  const width = Math.max(container.clientWidth || 320, 240);
  const height = (opts && opts.height) || 160;
  const svg = svgEl("svg", { class: "bars", width, height, viewBox: `0 0 ${width} ${height}` });
  const max = Math.max(1, ...items.map((i) => i.value));
  const w = (width - 10) / Math.max(1, items.length);
  items.forEach((item, i) => {
    const h = ((height - 30) * item.value) / max;
    const rect = svgEl("rect", { x: 5 + i * w + 1, y: height - 20 - h, width: Math.max(1, w - 2), height: h }, svg);
    svgEl("title", {}, rect).textContent = `${item.label}: ${item.value}`;
  });
  const labelled = opts && opts.allLabels ? items.map((_, i) => i) : [0, Math.floor(items.length / 2), items.length - 1];
  new Set(labelled).forEach((i) => {
    if (items[i]) svgText(svg, 5 + i * w + w / 2, height - 5, String(items[i].label).slice(0, 14), "middle");
  });
  container.replaceChildren(svg);
  return svg;
}

function asNumbers(values) {
  const nums = values.map((v) => (v === null || v === undefined || v === "" ? NaN : Number(v)));
  return nums.every((n) => !Number.isNaN(n)) ? nums : null;
}

// One axis per column; numeric columns scale linearly, others place their distinct values evenly.
function parallel(container, rows, columns, colors) {
  const width = Math.max(container.clientWidth || 480, 320);
  const height = 260;
  const svg = svgEl("svg", { class: "pc", width, height, viewBox: `0 0 ${width} ${height}` });
  const top = 24;
  const bottom = height - 24;
  const step = columns.length > 1 ? (width - 80) / (columns.length - 1) : 0;
  const scales = columns.map((col) => {
    const values = rows.map((r) => r.values[col]);
    const nums = asNumbers(values);
    if (nums) {
      const lo = Math.min(...nums), hi = Math.max(...nums);
      return { y: (v) => (hi === lo ? (top + bottom) / 2 : bottom - ((Number(v) - lo) / (hi - lo)) * (bottom - top)), lo, hi };
    }
    const cats = Array.from(new Set(values.map(String))).sort();
    return { y: (v) => (cats.length < 2 ? (top + bottom) / 2 : bottom - (cats.indexOf(String(v)) / (cats.length - 1)) * (bottom - top)), cats };
  });
  columns.forEach((col, i) => {
    const x = 40 + i * step;
    svgEl("line", { class: "axis", x1: x, x2: x, y1: top, y2: bottom }, svg);
    svgText(svg, x, 14, col.length > 18 ? `${col.slice(0, 17)}…` : col, "middle");
    const s = scales[i];
    if (s.cats) s.cats.forEach((c) => svgText(svg, x + 3, s.y(c) + 4, c.slice(0, 12)));
    else { svgText(svg, x + 3, top + 4, fmt(s.hi)); svgText(svg, x + 3, bottom + 14, fmt(s.lo)); }
  });
  rows.forEach((row, r) => {
    const points = columns.map((col, i) => {
      const v = row.values[col];
      return v === null || v === undefined ? null : `${40 + i * step},${scales[i].y(v)}`;
    }).filter(Boolean);
    const path = svgEl("path", { d: `M${points.join("L")}`, stroke: colors[r % colors.length] }, svg);
    svgEl("title", {}, path).textContent = row.label;
  });
  container.replaceChildren(svg);
  return svg;
}

function scatter(container, points, xLabel, yLabel) {
  const width = Math.max(container.clientWidth || 400, 280);
  const height = 260;
  const svg = svgEl("svg", { class: "scatter", width, height, viewBox: `0 0 ${width} ${height}` });
  const usable = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const left = 56, right = width - 12, top = 12, bottom = height - 36;
  svgEl("line", { class: "axis", x1: left, x2: right, y1: bottom, y2: bottom }, svg);
  svgEl("line", { class: "axis", x1: left, x2: left, y1: top, y2: bottom }, svg);
  svgText(svg, (left + right) / 2, height - 6, xLabel, "middle");
  svgText(svg, 4, top + 8, yLabel);
  if (usable.length) {
    const xs = usable.map((p) => p.x), ys = usable.map((p) => p.y);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const sx = (v) => (x1 === x0 ? (left + right) / 2 : left + ((v - x0) / (x1 - x0)) * (right - left));
    const sy = (v) => (y1 === y0 ? (top + bottom) / 2 : bottom - ((v - y0) / (y1 - y0)) * (bottom - top));
    svgText(svg, left, bottom + 14, fmt(x0)); svgText(svg, right, bottom + 14, fmt(x1), "end");
    svgText(svg, left - 4, bottom, fmt(y0), "end"); svgText(svg, left - 4, top + 10, fmt(y1), "end");
    usable.forEach((p) => {
      const c = svgEl("circle", { cx: sx(p.x), cy: sy(p.y), r: 5 }, svg);
      svgEl("title", {}, c).textContent = `${p.label}: ${fmt(p.x)}, ${fmt(p.y)}`;
    });
  } else {
    svgText(svg, (left + right) / 2, (top + bottom) / 2, "No run has numeric values in both columns.", "middle");
  }
  container.replaceChildren(svg);
  return svg;
}

window.modelyardSvg = { bars, parallel, scatter };
