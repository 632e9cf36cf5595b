// modelyard web UI: small behaviours shared by every page (no inline scripts: the CSP forbids them).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Nested runs: a parent's toggle shows or hides its children (and their children when collapsing).
  document.querySelectorAll("button[data-toggle]").forEach((button) => {
    button.addEventListener("click", () => {
      const open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", String(open));
      button.textContent = open ? "▼" : "▶";
      const hide = (parentId) => {
        document.querySelectorAll(`tr[data-parent="${CSS.escape(parentId)}"]`).forEach((row) => {
          row.hidden = true;
          const inner = row.querySelector("button[data-toggle]");
          if (inner) { inner.setAttribute("aria-expanded", "false"); inner.textContent = "▶"; }
          hide(row.dataset.run);
        });
      };
      if (open) {
        document.querySelectorAll(`tr[data-parent="${CSS.escape(button.dataset.toggle)}"]`).forEach((row) => { row.hidden = false; });
      } else {
        hide(button.dataset.toggle);
      }
    });
  });

  // Multi-select to compare: the button is enabled from two ticked runs on.
  const compare = document.getElementById("compare-button");
  if (compare) {
    const boxes = () => document.querySelectorAll('input[type=checkbox][form="compare-form"]');
    const count = document.getElementById("compare-count");
    const update = () => {
      const n = Array.from(boxes()).filter((b) => b.checked).length;
      compare.disabled = n < 2;
      count.textContent = n < 2 ? "Tick two or more runs to compare them." : `${n} runs selected.`;
    };
    boxes().forEach((b) => b.addEventListener("change", update));
    update();
  }

  // Forms that ask before doing something that cannot be undone.
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
});
