// Dataset version page: a histogram and the most frequent values per profiled column (SVG bars).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const source = document.getElementById("profile-data");
  if (!source) return;
  const charts = JSON.parse(source.textContent);
  document.querySelectorAll("[data-profile]").forEach((figure) => {
    const chart = charts[figure.dataset.profile];
    if (!chart) return;
    const hist = figure.querySelector('[data-kind="histogram"]');
    if (hist && chart.histogram) {
      const edges = chart.histogram.edges;
      const items = chart.histogram.counts.map((count, i) => ({ label: edges[i] !== undefined ? edges[i] : i, value: count }));
      window.modelyardSvg.bars(hist, items, { height: 150 });
    }
    const top = figure.querySelector('[data-kind="top"]');
    if (top && chart.top) {
      window.modelyardSvg.bars(top, chart.top.map((t) => ({ label: t.value, value: t.count })), { height: 150, allLabels: chart.top.length <= 6 });
    }
    figure.dataset.drawn = "true";
  });
});
