// Compare page: overlaid metric series (uPlot), parallel coordinates and a scatter of any two columns.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const data = JSON.parse(document.getElementById("compare-data").textContent);
  const palette = window.modelyardCharts.PALETTE;
  const legend = (el) => {
    if (!el) return;
    el.replaceChildren(...data.runs.map((r, i) => {
      const item = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = palette[i % palette.length];
      item.append(swatch, document.createTextNode(r.name));
      return item;
    }));
  };

  const overlay = document.getElementById("overlay");
  if (overlay) {
    const key = document.getElementById("overlay-key");
    const log = document.getElementById("overlay-log");
    const draw = () => window.modelyardCharts.drawOverlay(overlay, data.runs, key.value, log.checked);
    key.addEventListener("change", draw);
    log.addEventListener("change", draw);
    legend(document.getElementById("overlay-legend"));
    draw();
  }

  // Columns: params (shown when they differ, else all, at most 8) and metrics.
  const differing = data.params.filter((k) => new Set(data.runs.map((r) => r.params[k])).size > 1);
  const pcParams = (differing.length ? differing : data.params).slice(0, 8);
  const pcMetric = document.getElementById("pc-metric");
  const drawPc = () => {
    const columns = pcParams.map((k) => `params.${k}`);
    if (pcMetric.value) columns.push(`metrics.${pcMetric.value}`);
    const rows = data.runs.map((r) => {
      const values = {};
      pcParams.forEach((k) => { values[`params.${k}`] = r.params[k] ?? null; });
      if (pcMetric.value) values[`metrics.${pcMetric.value}`] = r.metrics[pcMetric.value] ?? null;
      return { label: r.name, values };
    });
    const box = document.getElementById("pc");
    if (!columns.length) { box.textContent = "These runs have no params or metrics to draw."; return; }
    window.modelyardSvg.parallel(box, rows, columns, palette);
    box.dataset.drawn = "true";
  };
  pcMetric.addEventListener("change", drawPc);
  legend(document.getElementById("pc-legend"));
  drawPc();

  const columns = [...data.metrics.map((k) => `metrics.${k}`), ...data.params.map((k) => `params.${k}`)];
  const sx = document.getElementById("sc-x");
  const sy = document.getElementById("sc-y");
  columns.forEach((c) => { sx.add(new Option(c, c)); sy.add(new Option(c, c)); });
  if (columns.length > 1) sy.selectedIndex = 1;
  const valueOf = (run, column) => {
    const [kind, ...rest] = column.split(".");
    const v = (kind === "metrics" ? run.metrics : run.params)[rest.join(".")];
    return v === null || v === undefined || v === "" ? NaN : Number(v);
  };
  const drawScatter = () => {
    const box = document.getElementById("scatter");
    if (!columns.length) { box.textContent = "No columns to plot."; return; }
    const points = data.runs.map((r) => ({ label: r.name, x: valueOf(r, sx.value), y: valueOf(r, sy.value) }));
    window.modelyardSvg.scatter(box, points, sx.value, sy.value);
    box.dataset.drawn = "true";
  };
  sx.addEventListener("change", drawScatter);
  sy.addEventListener("change", drawScatter);
  drawScatter();
});
