// Metric charts on uPlot (vendored): downsampled buckets from the server keep each bucket's min and
// max, drawn as a band around the average so spikes survive; zoom by dragging, log scale, step or time axis.
"use strict";

const PALETTE = ["#2457c5", "#d9480f", "#2b8a3e", "#862e9c", "#e8590c", "#0b7285", "#c2255c", "#5c940d",
  "#364fc7", "#a61e4d"];

async function fetchSeries(runId, key) {
  const url = `/runs/${encodeURIComponent(runId)}/chart-data?key=${encodeURIComponent(key)}`;
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`the server answered ${response.status}`);
  return response.json();
}

function positive(values) {
  return values.every((v) => v === null || v > 0);
}

function baseOptions(width, opts) {
  return {
    width,
    height: 240,
    scales: {
      x: { time: opts.time },
      y: opts.log ? { distr: 3 } : {},
    },
    axes: [{ stroke: "#5f6b7a", grid: { stroke: "#eef0f3" } }, { stroke: "#5f6b7a", grid: { stroke: "#eef0f3" }, size: 60 }],
    cursor: { drag: { x: true, y: false } },
    legend: { live: true },
  };
}

function drawSingle(plot, data, opts) {
  const xs = opts.time ? data.time : data.step;
  const series = [{ label: opts.time ? "time" : "step" }];
  const columns = [xs];
  const bands = [];
  if (!data.raw) {
    series.push({ label: "max", stroke: "rgba(36,87,197,.35)", width: 1 });
    series.push({ label: "min", stroke: "rgba(36,87,197,.35)", width: 1 });
    columns.push(data.max, data.min);
    bands.push({ series: [1, 2], fill: "rgba(36,87,197,.12)" });
  }
  series.push({ label: data.raw ? data.key : "average", stroke: PALETTE[0], width: 1.5, spanGaps: true });
  columns.push(data.avg);
  const options = baseOptions(plot.clientWidth || 400, opts);
  options.series = series;
  options.bands = bands;
  return new uPlot(options, columns, plot);
}

function setupChart(figure) {
  const plot = figure.querySelector(".plot");
  const note = figure.querySelector("figcaption");
  const log = figure.querySelector("[data-log]");
  const axis = figure.querySelector("[data-axis]");
  const reset = figure.querySelector("[data-reset]");
  let chart = null;
  let data = null;
  const draw = () => {
    if (!data) return;
    if (chart) chart.destroy();
    const values = data.raw ? data.avg : data.min;
    if (log.checked && !positive(values)) {
      log.checked = false;
      note.textContent = "Log scale needs positive values only.";
    }
    chart = drawSingle(plot, data, { log: log.checked, time: axis.value === "time" && data.time !== null });
    figure.dataset.drawn = "true";
  };
  fetchSeries(figure.dataset.run, figure.dataset.key).then((loaded) => {
    data = loaded;
    if (!data.step.length) { note.textContent = "No points."; return; }
    if (data.time === null) {
      axis.querySelector('option[value="time"]').disabled = true;
    }
    note.textContent = data.raw
      ? `${data.points.toLocaleString()} points. Drag to zoom.`
      : `${data.points.toLocaleString()} points in ${data.step.length} buckets (band: min–max, line: average). Drag to zoom.`;
    draw();
  }).catch((error) => { note.textContent = `Could not load the series: ${error.message}`; });
  log.addEventListener("change", draw);
  axis.addEventListener("change", draw);
  reset.addEventListener("click", draw);
  new ResizeObserver(() => { if (chart) chart.setSize({ width: plot.clientWidth, height: 240 }); }).observe(plot);
}

// Several runs' series of one metric, overlaid (compare page); aligned on step with uPlot.join.
async function drawOverlay(container, runs, key, log) {
  const note = container.querySelector("figcaption");
  const plot = container.querySelector(".plot");
  note.textContent = "Loading…";
  try {
    const all = await Promise.all(runs.map((r) => fetchSeries(r.id, key)));
    const tables = all.filter((d) => d.step.length).map((d) => [d.step, d.avg]);
    plot.replaceChildren();
    if (!tables.length) { note.textContent = `No run has points of ${key}.`; return; }
    const joined = uPlot.join(tables);
    const options = baseOptions(plot.clientWidth || 600, { log: log && joined.slice(1).every(positive), time: false });
    options.series = [{ label: "step" }];
    all.forEach((d, i) => {
      if (d.step.length) options.series.push({ label: runs[i].name, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: true });
    });
    new uPlot(options, joined, plot);
    container.dataset.drawn = "true";
    note.textContent = `${key}: ${tables.length} of ${runs.length} runs have this metric. Drag to zoom.`;
  } catch (error) {
    note.textContent = `Could not load the series: ${error.message}`;
  }
}

window.modelyardCharts = { drawOverlay, PALETTE };

document.addEventListener("DOMContentLoaded", () => {
  const figures = document.querySelectorAll("[data-chart]");
  const seen = new IntersectionObserver((entries) => {
    entries.forEach((entry) => {
      if (entry.isIntersecting) { seen.unobserve(entry.target); setupChart(entry.target); }
    });
  }, { rootMargin: "200px" });
  figures.forEach((f) => seen.observe(f));
});
