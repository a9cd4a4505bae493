// sitegen pages: progressive enhancement only. Every page reads fine without this file;
// it adds relative dates, copy buttons, sortable tables and filters. Text is only ever
// set with textContent, never parsed as HTML.
"use strict";

(function () {
  const UNITS = [["year", 31557600], ["month", 2629800], ["day", 86400], ["hour", 3600], ["minute", 60]];

  function relative(seconds) {
    const ahead = seconds < 0;
    seconds = Math.abs(seconds);
    for (const [unit, length] of UNITS) {
      if (seconds >= length) {
        const n = Math.floor(seconds / length);
        const amount = n + " " + unit + (n === 1 ? "" : "s");
        return ahead ? "in " + amount : amount + " ago";
      }
    }
    return "just now";
  }

  function relativeDates() {
    const now = Math.floor(Date.now() / 1000);
    for (const el of document.querySelectorAll("[data-rel]")) {
      el.textContent = relative(now - Number(el.dataset.rel));
    }
  }

  function registryHost() {
    return document.body.dataset.registryHost || location.host;
  }

  function fillHosts() {
    for (const el of document.querySelectorAll("var[data-host]")) {
      el.replaceWith(document.createTextNode(registryHost()));
    }
  }

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return;
    }
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }

  function copyButtons() {
    for (const button of document.querySelectorAll("button.copy")) {
      const label = button.textContent;
      button.hidden = false;
      button.addEventListener("click", async () => {
        let text;
        if (button.dataset.copy) {
          text = document.querySelector(button.dataset.copy).textContent.trim();
        } else {
          text = "docker pull " + registryHost() + "/" + button.dataset.pull;
        }
        try {
          await copyText(text);
          button.textContent = "Copied";
        } catch (err) {
          button.textContent = "Copy failed";
        }
        setTimeout(() => { button.textContent = label; }, 1500);
      });
    }
  }

  // Code-point order, so the page sorts like the build does.
  function byCodePoint(a, b) {
    return a < b ? -1 : a > b ? 1 : 0;
  }

  // Natural order of versions: "1.10" after "1.9"; a leading "v" is ignored.
  function chunks(text) {
    return text.toLowerCase().replace(/^v(?=\d)/, "").match(/\d+|\D+/g) || [];
  }

  const looksLikeVersion = (name) => /^v?\d/i.test(name);

  // Versions newest first, then the other tags (latest, stable…) by name.
  function byVersionDescending(a, b) {
    const x = looksLikeVersion(a);
    const y = looksLikeVersion(b);
    if (x !== y) return x ? -1 : 1;
    if (!x) return byCodePoint(a, b);
    return byVersion(b, a) || byCodePoint(a, b);
  }

  function byVersion(a, b) {
    const x = chunks(a);
    const y = chunks(b);
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      const p = x[i];
      const q = y[i];
      const pn = /^\d/.test(p);
      const qn = /^\d/.test(q);
      if (pn && qn) {
        const d = Number(p) - Number(q);
        if (d !== 0) return d;
      } else if (p !== q) {
        if (pn !== qn) return pn ? 1 : -1;
        return byCodePoint(p, q);
      }
    }
    return x.length - y.length;
  }

  function cellValue(row, index, numeric) {
    const cell = row.children[index];
    const raw = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim();
    return numeric ? Number(raw) || 0 : raw;
  }

  function sortableTables() {
    for (const table of document.querySelectorAll("table[data-sortable]")) {
      const headers = Array.from(table.tHead.rows[0].cells);
      headers.forEach((th, index) => {
        if (!th.dataset.sort) return;
        const button = document.createElement("button");
        button.type = "button";
        button.className = "sort";
        button.textContent = th.textContent;
        th.textContent = "";
        th.appendChild(button);
        button.addEventListener("click", () => {
          const numeric = th.dataset.sort === "num";
          const current = th.getAttribute("aria-sort");
          const first = th.dataset.default === "desc" ? "descending" : "ascending";
          const order = current === first ? (first === "ascending" ? "descending" : "ascending") : first;
          for (const other of headers) other.removeAttribute("aria-sort");
          th.setAttribute("aria-sort", order);
          const sign = order === "ascending" ? 1 : -1;
          const body = table.tBodies[0];
          const rows = Array.from(body.rows);
          rows.sort((a, b) => {
            const x = cellValue(a, index, numeric);
            const y = cellValue(b, index, numeric);
            return sign * (numeric ? x - y : byCodePoint(x, y));
          });
          body.append(...rows);
        });
      });
    }
  }

  function filters() {
    for (const box of document.querySelectorAll("[data-filter-for]")) {
      const scope = document.querySelector(box.dataset.filterFor);
      const input = box.querySelector("input");
      const count = box.querySelector("[data-filter-count]");
      if (!scope || !input) continue;
      box.hidden = false;
      input.addEventListener("input", () => {
        const q = input.value.trim().toLowerCase();
        let shown = 0;
        for (const row of scope.querySelectorAll("table.repos tbody tr")) {
          const name = row.cells[0].querySelector("a").textContent.toLowerCase();
          const section = row.closest("section");
          const ns = section ? section.querySelector("h2 a").textContent.toLowerCase() : "";
          row.hidden = q !== "" && !(ns + "/" + name).includes(q);
          if (!row.hidden) shown++;
        }
        for (const section of scope.querySelectorAll("section.namespace")) {
          const rows = section.querySelectorAll("table.repos tbody tr");
          const visible = Array.from(rows).some((r) => !r.hidden);
          section.hidden = q !== "" && !visible;
        }
        count.textContent = q === "" ? "" : shown + (shown === 1 ? " match" : " matches");
      });
    }
  }

  function tagSorters() {
    for (const group of document.querySelectorAll("[data-sort-tags]")) {
      const section = group.closest("section");
      const table = section.querySelector("table[data-tags]");
      if (!table) continue;
      group.hidden = false;
      const orders = {
        newest: (a, b) => Number(b.dataset.newest) - Number(a.dataset.newest) || byCodePoint(a.dataset.name, b.dataset.name),
        name: (a, b) => byCodePoint(a.dataset.name, b.dataset.name),
        version: (a, b) => byVersionDescending(a.dataset.name, b.dataset.name),
      };
      for (const button of group.querySelectorAll("button[data-order]")) {
        button.addEventListener("click", () => {
          for (const other of group.querySelectorAll("button")) other.setAttribute("aria-pressed", "false");
          button.setAttribute("aria-pressed", "true");
          const body = table.tBodies[0];
          const rows = Array.from(body.rows).sort(orders[button.dataset.order]);
          body.append(...rows);
        });
      }
    }
  }

  function start() {
    relativeDates();
    fillHosts();
    copyButtons();
    sortableTables();
    filters();
    tagSorters();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
