// sitegen search page: searches the static index under /search-index/ in the browser, as you
// type, with no server. This mirrors the reference client `ClientIndex` in
// generator/emit/search_shards.py (read its docstring for the file format): same query
// parsing, same candidates, same verification, same byte budget. Results are written with
// textContent only, so names and descriptions are never parsed as HTML.
"use strict";

(function () {
  const MAX_QUERY_CHARS = 1024;
  const MAX_TERMS = 32;
  const LABEL_TOKEN_CHARS = 200;
  const MAX_GRAMS = 4;
  const PAGE_SIZE = 20;
  const BUDGET_BYTES = 100000;
  const KIND = { word: "w:", tag: "t:", label: "l:" };

  const codePoints = (text) => Array.from(text);
  const cpLength = (text) => codePoints(text).length;

  // --- query parsing (generator/index.py: fold, words, Query.parse) -------------------------

  function fold(text) {
    return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
  }

  function words(text) {
    return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) || [];
  }

  function labelText(text) {
    const joined = text.toLowerCase().split(/\s+/).filter(Boolean).join(" ");
    return codePoints(joined).slice(0, LABEL_TOKEN_CHARS).join("");
  }

  function wellFormed(text) {
    return typeof text.isWellFormed === "function" ? text.isWellFormed() : true;
  }

  function prune(terms) {
    const seen = new Set();
    const unique = [];
    for (const [kind, value] of terms) {
      const key = kind + "\u0000" + value;
      if (!seen.has(key)) {
        seen.add(key);
        unique.push([kind, value]);
      }
    }
    return unique.filter(([kind, value]) =>
      !unique.some(([k, v]) => k === kind && v !== value && v.startsWith(value)));
  }

  function parseQuery(q) {
    const text = codePoints(q).slice(0, MAX_QUERY_CHARS).join("");
    const parts = text.split(/\s+/).filter(Boolean);
    const terms = [];
    let fielded = false;
    for (const part of parts) {
      const at = part.indexOf(":");
      const kind = at >= 0 ? part.slice(0, at).toLowerCase() : "";
      if (kind === "tag" || kind === "label") {
        fielded = true;
        const raw = part.slice(at + 1);
        const value = kind === "tag" ? raw.toLowerCase() : labelText(raw);
        if (value && wellFormed(value)) terms.push([kind, value]);
      } else {
        for (const w of words(part)) if (wellFormed(w)) terms.push(["word", w]);
      }
    }
    const wordPart = fielded || parts.length > 1;
    return { text, like: new Like(text), terms: wordPart ? prune(terms).slice(0, MAX_TERMS) : [], wordPart };
  }

  // SQL LIKE '%pattern%' on folded text: `%` any run, `_` any one character. Segments
  // between `%`s are matched leftmost-first, which is exact for LIKE and linear.
  class Like {
    constructor(pattern) {
      this.pattern = fold(pattern);
      this.literal = !/[%_]/.test(this.pattern);
      this.segments = this.pattern.split("%").filter(Boolean).map(codePoints);
    }

    matches(text) {
      if (this.literal) return text.includes(this.pattern);
      const chars = codePoints(text);
      let from = 0;
      for (const segment of this.segments) {
        const at = findSegment(chars, segment, from);
        if (at < 0) return false;
        from = at + segment.length;
      }
      return true;
    }
  }

  function findSegment(chars, segment, from) {
    outer: for (let i = from; i + segment.length <= chars.length; i++) {
      for (let j = 0; j < segment.length; j++) {
        if (segment[j] !== "_" && segment[j] !== chars[i + j]) continue outer;
      }
      return i;
    }
    return -1;
  }

  // --- the index files (search_shards.py) ---------------------------------------------------

  function decodeIds(text) {
    const ids = [];
    if (text.startsWith("=")) {
      const bits = atob(text.slice(1));
      for (let i = 0; i < bits.length; i++) {
        const byte = bits.charCodeAt(i);
        for (let b = 0; b < 8; b++) if ((byte >> b) & 1) ids.push(i * 8 + b);
      }
      return ids;
    }
    let prev = -1;
    for (const part of text.split(",")) {
      if (!part) continue;
      const plus = part.indexOf("+");
      const gap = plus >= 0 ? part.slice(0, plus) : part;
      const run = plus >= 0 ? parseInt(part.slice(plus + 1), 36) : 0;
      prev += parseInt(gap, 36);
      ids.push(prev);
      for (let r = 0; r < run; r++) ids.push(++prev);
    }
    return ids;
  }

  function readNodes(coded) {
    if (Array.isArray(coded)) return coded.map(([key, leaf]) => [key, Boolean(leaf)]);
    const nodes = [];
    let prev = [];
    for (const line of coded ? coded.split("\n") : []) {
      const plus = line.indexOf("+");
      const minus = line.indexOf("-");
      const at = plus < 0 ? minus : minus < 0 ? plus : Math.min(plus, minus);
      const key = prev.slice(0, parseInt(line.slice(0, at), 36)).concat(codePoints(line.slice(at + 1)));
      nodes.push([key.join(""), line[at] === "+"]);
      prev = key;
    }
    return nodes;
  }

  // Python sorts strings by code point; JavaScript's < compares UTF-16 units.
  function compareCodePoints(a, b) {
    let i = 0;
    let j = 0;
    while (i < a.length && j < b.length) {
      const x = a.codePointAt(i);
      const y = b.codePointAt(j);
      if (x !== y) return x - y;
      i += x > 0xffff ? 2 : 1;
      j += y > 0xffff ? 2 : 1;
    }
    return (a.length - i) - (b.length - j);
  }

  function bisectLeft(keys, token) {
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareCodePoints(keys[mid], token) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  function shardPath(key) {
    const hex = Array.from(new TextEncoder().encode(key), (b) => b.toString(16).padStart(2, "0"));
    return "shards/" + hex.join("") + ".json";
  }

  class OverBudget extends Error {}

  class ClientIndex {
    constructor(base) {
      this.base = base;
      this.files = new Map();
    }

    async load() {
      const { data, bytes } = await this.fetch("manifest.json");
      this.manifest = data;
      this.manifestBytes = bytes;
      const nodes = readNodes(data.nodes);
      this.keys = nodes.map(([key]) => key);
      this.leaf = new Map(nodes);
      return this;
    }

    fetch(path) {
      if (!this.files.has(path)) {
        const loading = fetch(this.base + path, { credentials: "same-origin" }).then(async (response) => {
          if (!response.ok) throw new Error(path + ": HTTP " + response.status);
          const text = await response.text();
          return { data: JSON.parse(text), bytes: new TextEncoder().encode(text).length };
        });
        loading.catch(() => this.files.delete(path));
        this.files.set(path, loading);
      }
      return this.files.get(path);
    }

    async search(q, limit) {
      const run = new Run(this, BUDGET_BYTES);
      try {
        return await run.search(parseQuery(q), limit);
      } catch (err) {
        if (!(err instanceof OverBudget)) throw err;
        return { results: run.results, total: run.results.length, exact: false, complete: false };
      }
    }

    // Ids with a token starting with `token`: one shard file at most.
    async termIds(token, run) {
      const at = bisectLeft(this.keys, token);
      let key;
      let data;
      if (at < this.keys.length && this.keys[at].startsWith(token)) {
        key = this.keys[at];
        data = await run.get(shardPath(key));
        if (!this.leaf.get(key)) return new Set(decodeIds(data.ids));
      } else {
        const chars = codePoints(token);
        key = "";
        for (let n = chars.length; n > 0; n--) {
          const prefix = chars.slice(0, n).join("");
          if (this.leaf.has(prefix)) {
            key = prefix;
            break;
          }
        }
        if (!this.leaf.get(key)) return new Set();
        data = await run.get(shardPath(key));
      }
      const found = new Set();
      for (const [t, ids] of Object.entries(data.postings)) {
        if (t.startsWith(token)) for (const i of decodeIds(ids)) found.add(i);
      }
      return found;
    }
  }

  class Run {
    constructor(index, budget) {
      this.index = index;
      this.budget = budget;
      this.bytes = index.manifestBytes;
      this.seen = new Map();
      this.results = [];
    }

    async get(path) {
      if (!this.seen.has(path)) {
        const kind = path.startsWith("shards/") ? "max_shard_bytes" : "max_block_bytes";
        if (this.budget !== null && this.bytes + this.index.manifest[kind] > this.budget) throw new OverBudget();
        const { data, bytes } = await this.index.fetch(path);
        this.bytes += bytes;
        this.seen.set(path, data);
      }
      return this.seen.get(path);
    }

    async entry(i) {
      const size = this.index.manifest.block_size;
      const block = await this.get("blocks/" + Math.floor(i / size) + ".json");
      return block[i % size];
    }

    async search(query, limit) {
      const n = this.index.manifest.repositories;
      const like = query.like;
      let ids = null;
      let exactLike = true;
      if (query.text) [ids, exactLike] = await this.likeCandidates(like);
      let hits = new Set();
      if (query.wordPart && query.terms.length) hits = await this.termHits(query.terms);
      let candidates;
      if (ids === null) {
        candidates = Array.from({ length: n }, (_, i) => i);
      } else {
        candidates = Array.from(new Set([...ids, ...hits])).sort((a, b) => a - b);
      }
      let rest = [];
      let verified = 0;
      for (let at = 0; at < candidates.length; at++) {
        if (limit !== null && this.results.length >= limit) {
          rest = candidates.slice(at);
          break;
        }
        const i = candidates[at];
        const [name, description] = await this.entry(i);
        if (exactLike || hits.has(i) || like.matches(fold(name)) ||
            (description !== null && like.matches(fold(description)))) {
          this.results.push({ name, description });
          verified++;
        }
      }
      const exact = exactLike || rest.every((i) => hits.has(i));
      return { results: this.results, total: verified + rest.length, exact, complete: true };
    }

    async likeCandidates(like) {
      const gramText = like.pattern.replace(/\n/g, " ");
      const pieces = Array.from(new Set(gramText.split(/[%_]/).filter(Boolean)))
        .sort((a, b) => cpLength(b) - cpLength(a));
      const trigrams = pieces.map((piece) => {
        const chars = codePoints(piece);
        const out = [];
        for (let j = 0; j < Math.max(1, chars.length - 2); j++) out.push(chars.slice(j, j + 3).join(""));
        return out;
      });
      const grams = [
        ...trigrams.map((t) => t[0]),
        ...trigrams.map((t) => t[t.length - 1]),
        ...trigrams.map((t) => t[Math.floor(t.length / 2)]),
      ];
      let ids = null;
      for (const gram of Array.from(new Set(grams)).slice(0, MAX_GRAMS)) {
        const found = await this.index.termIds("g:" + gram, this);
        ids = ids === null ? found : new Set([...ids].filter((i) => found.has(i)));
        if (!ids.size) return [new Set(), true];
      }
      return [ids, like.literal && cpLength(like.pattern) <= 3];
    }

    async termHits(terms) {
      const ordered = terms.slice().sort((a, b) => cpLength(b[1]) - cpLength(a[1]));
      let hits = null;
      for (const [kind, value] of ordered) {
        const found = await this.index.termIds(KIND[kind] + value, this);
        hits = hits === null ? found : new Set([...hits].filter((i) => found.has(i)));
        if (!hits.size) return new Set();
      }
      return hits || new Set();
    }
  }

  // --- the page -------------------------------------------------------------------------------

  function start() {
    const form = document.getElementById("search-form");
    const input = document.getElementById("q");
    const status = document.getElementById("search-status");
    const list = document.getElementById("results");
    const more = document.getElementById("more");
    const pattern = form.dataset.repositoryUrl;
    const index = new ClientIndex(form.dataset.index);
    let ready = null;
    let generation = 0;
    let limit = PAGE_SIZE;
    let timer = null;

    function repositoryUrl(name) {
      const slash = name.indexOf("/");
      return pattern
        .replace("{0}", () => encodeURIComponent(name.slice(0, slash)))
        .replace("{1}", () => encodeURIComponent(name.slice(slash + 1)));
    }

    function show(answer, q) {
      list.replaceChildren(...answer.results.map(({ name, description }) => {
        const item = document.createElement("li");
        const link = document.createElement("a");
        link.href = repositoryUrl(name);
        link.textContent = name;
        item.appendChild(link);
        if (description) {
          const desc = document.createElement("span");
          desc.className = "desc";
          desc.textContent = description;
          item.appendChild(desc);
        }
        return item;
      }));
      const shown = answer.results.length;
      let text;
      if (!answer.complete) {
        text = shown + " found so far: this query reads too much of the index; add letters to narrow it.";
      } else if (shown === 0) {
        text = "No repository matches \u201c" + q + "\u201d.";
      } else if (answer.total === shown) {
        text = shown === 1 ? "1 repository." : shown + " repositories.";
      } else {
        text = "Showing " + shown + " of " + (answer.exact ? "" : "up to ") + answer.total + " repositories.";
      }
      status.textContent = text;
      more.hidden = !answer.complete || answer.total <= shown;
    }

    async function run() {
      const q = input.value;
      const mine = ++generation;
      const url = new URL(location.href);
      if (q) url.searchParams.set("q", q);
      else url.searchParams.delete("q");
      history.replaceState(null, "", url);
      if (!q.trim()) {
        list.replaceChildren();
        more.hidden = true;
        try {
          await ready;
          if (mine === generation) status.textContent = "Type to search " + index.manifest.repositories + " repositories.";
        } catch (err) { /* reported by load */ }
        return;
      }
      status.textContent = "Searching\u2026";
      try {
        await ready;
        const answer = await index.search(q, limit);
        if (mine === generation) show(answer, q);
      } catch (err) {
        if (mine === generation) status.textContent = "Search failed: " + err.message;
      }
    }

    ready = index.load();
    ready.catch(() => {
      status.textContent = "The search index could not be loaded.";
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      clearTimeout(timer);
      limit = PAGE_SIZE;
      run();
    });
    input.addEventListener("input", () => {
      clearTimeout(timer);
      limit = PAGE_SIZE;
      timer = setTimeout(run, 80);
    });
    more.addEventListener("click", () => {
      limit += PAGE_SIZE;
      run();
    });
    input.value = new URLSearchParams(location.search).get("q") || "";
    input.focus();
    run();
  }

  window.sitegenSearch = { parseQuery, Like, decodeIds, readNodes, ClientIndex };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
