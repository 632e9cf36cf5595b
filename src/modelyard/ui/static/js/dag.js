// Pipeline run page: the DAG drawn in layers (each step right of everything it depends on), coloured
// by step status, and refreshed every two seconds while the run is still going.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const LIVE = new Set(["RUNNING", "PENDING"]);

function layers(nodes, edges) {
  const depth = Object.fromEntries(nodes.map((n) => [n, 0]));
  for (let i = 0; i < nodes.length; i++) {
    edges.forEach(([a, b]) => { depth[b] = Math.max(depth[b], depth[a] + 1); });
  }
  return depth;
}

function draw(box, data) {
  const depth = layers(data.nodes, data.edges);
  const rows = {};
  const pos = {};
  data.nodes.forEach((n) => {
    const d = depth[n];
    rows[d] = (rows[d] || 0) + 1;
    pos[n] = { x: 10 + d * 190, y: 10 + (rows[d] - 1) * 56 };
  });
  const width = Math.max(...Object.values(pos).map((p) => p.x)) + 180;
  const height = Math.max(...Object.values(pos).map((p) => p.y)) + 50;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "dag");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  data.edges.forEach(([a, b]) => {
    const path = document.createElementNS(SVG, "path");
    const [pa, pb] = [pos[a], pos[b]];
    const [x1, y1, x2, y2] = [pa.x + 160, pa.y + 18, pb.x, pb.y + 18];
    path.setAttribute("d", `M${x1},${y1} C${x1 + 20},${y1} ${x2 - 20},${y2} ${x2},${y2}`);
    svg.append(path);
  });
  data.nodes.forEach((n) => {
    const g = document.createElementNS(SVG, "g");
    g.setAttribute("class", `node ${data.steps[n] || "PENDING"}`);
    g.setAttribute("data-node", n);
    const rect = document.createElementNS(SVG, "rect");
    Object.entries({ x: pos[n].x, y: pos[n].y, width: 160, height: 36, rx: 6 }).forEach(([k, v]) => rect.setAttribute(k, v));
    const text = document.createElementNS(SVG, "text");
    text.setAttribute("x", pos[n].x + 10);
    text.setAttribute("y", pos[n].y + 23);
    text.textContent = `${n.length > 16 ? `${n.slice(0, 15)}…` : n} · ${(data.steps[n] || "PENDING").toLowerCase()}`;
    const title = document.createElementNS(SVG, "title");
    title.textContent = `${n}: ${data.steps[n] || "not started"}`;
    g.append(rect, text, title);
    svg.append(g);
  });
  box.replaceChildren(svg);
  box.dataset.drawn = "true";
}

document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("dag");
  let data = JSON.parse(document.getElementById("dag-data").textContent);
  if (!data.nodes.length) { box.textContent = "This run recorded no DAG."; return; }
  draw(box, data);
  const poll = async () => {
    if (!LIVE.has(data.status)) return;
    try {
      const response = await fetch(`/pipelines/runs/${encodeURIComponent(box.dataset.run)}/status`, { credentials: "same-origin" });
      if (response.ok) {
        data = await response.json();
        draw(box, data);
        if (!LIVE.has(data.status)) { window.location.reload(); return; }
      }
    } catch (error) {
      document.getElementById("dag-note").textContent = `Could not refresh: ${error.message}`;
    }
    window.setTimeout(poll, 2000);
  };
  window.setTimeout(poll, 2000);
});
