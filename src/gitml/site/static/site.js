/* gitml site: sorting, filtering and the 2-4 run comparison of the experiments table.
   The table works without this script; nothing here requests anything from the network. */
(function () {
  "use strict";
  var dataNode = document.getElementById("site-data");
  var table = document.getElementById("runs");
  if (!dataNode || !table) return;
  var DATA = JSON.parse(dataNode.textContent);
  var tbody = table.tBodies[0];
  var rows = Array.prototype.slice.call(tbody.rows);
  var selected = [];
  var MAX = 4;
  var EPS = 1e-12;
  var COLORS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7"];
  var PLOTS = {roc: ["ROC", "fpr", "tpr"], prc: ["Precision-recall", "recall", "precision"],
               calibration: ["Calibration", "mean predicted", "fraction positive"]};

  document.getElementById("controls").hidden = false;
  rows.forEach(function (tr) { tr.querySelector("input[type=checkbox]").disabled = false; });

  function num(v) {
    if (v === "" || v === null || v === undefined || typeof v === "boolean") return null;
    var n = typeof v === "number" ? v : Number(v);
    return isFinite(n) ? n : null;
  }
  function fmt(v) {
    if (v === null || v === undefined) return "—";
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(4);
    return String(v);
  }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svgEl(tag, attrs) {
    var e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    return e;
  }

  /* ---- sorting ------------------------------------------------------------------------ */
  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  headers.forEach(function (th, col) {
    if (!th.dataset.key) return;
    var button = el("button", {type: "button", "class": "sort"}, th.textContent);
    th.textContent = "";
    th.appendChild(button);
    th.setAttribute("aria-sort", "none");
    button.addEventListener("click", function () {
      var asc = th.getAttribute("aria-sort") !== "ascending";
      headers.forEach(function (h) { if (h.dataset.key) h.setAttribute("aria-sort", "none"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var keyed = rows.map(function (tr, i) { return [tr.cells[col].dataset.v, i, tr]; });
      keyed.sort(function (a, b) {
        var ea = a[0] === "" || a[0] === undefined, eb = b[0] === "" || b[0] === undefined;
        if (ea || eb) return ea === eb ? a[1] - b[1] : (ea ? 1 : -1);  /* blanks last, both ways */
        var x = num(a[0]), y = num(b[0]);
        var c = x !== null && y !== null ? x - y : String(a[0]).localeCompare(String(b[0]));
        if (c === 0) return a[1] - b[1];
        return asc ? c : -c;
      });
      rows = keyed.map(function (k) { return k[2]; });
      rows.forEach(function (tr) { tbody.appendChild(tr); });
    });
  });

  /* ---- filtering ---------------------------------------------------------------------- */
  var filter = document.getElementById("filter");
  var kind = document.getElementById("kind");
  var count = document.getElementById("count");
  function valueOf(run, key) {
    if (key in run.params) return run.params[key];
    if (key in run.metrics) return run.metrics[key];
    if (key === "name" || key === "kind" || key === "rev") return run[key];
    return undefined;
  }
  function matches(run, tr, token) {
    var m = /^([^=<>]+)(=|>=|<=|>|<)(.*)$/.exec(token);
    if (!m) return tr.textContent.toLowerCase().indexOf(token.toLowerCase()) >= 0;
    var v = valueOf(run, m[1].trim());
    if (v === undefined) return false;
    var want = m[3].trim();
    if (m[2] === "=") return String(v).toLowerCase() === want.toLowerCase();
    var a = num(v), b = num(want);
    if (a === null || b === null) return false;
    return {">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b}[m[2]];
  }
  function applyFilter() {
    var tokens = filter.value.trim().split(/\s+/).filter(Boolean);
    var shown = 0;
    rows.forEach(function (tr) {
      var run = DATA.runs[tr.dataset.id];
      var ok = (!kind.value || tr.dataset.kind === kind.value) &&
        tokens.every(function (t) { return matches(run, tr, t); });
      tr.hidden = !ok;
      if (ok) shown++;
    });
    count.textContent = shown + " of " + rows.length + " shown";
  }
  filter.addEventListener("input", applyFilter);
  kind.addEventListener("change", applyFilter);
  document.getElementById("controls").addEventListener("submit", function (e) { e.preventDefault(); });
  applyFilter();

  /* ---- selection and comparison ------------------------------------------------------- */
  tbody.addEventListener("change", function (e) {
    var box = e.target;
    if (box.type !== "checkbox") return;
    var id = box.value;
    if (box.checked) { if (selected.indexOf(id) < 0) selected.push(id); }
    else selected = selected.filter(function (s) { return s !== id; });
    rows.forEach(function (tr) {
      var b = tr.querySelector("input[type=checkbox]");
      b.disabled = !b.checked && selected.length >= MAX;
    });
    render();
  });
  document.getElementById("clear").addEventListener("click", function () {
    selected = [];
    rows.forEach(function (tr) {
      var b = tr.querySelector("input[type=checkbox]");
      b.checked = false; b.disabled = false;
    });
    render();
  });

  /* The report's statuses (gitml.compare.compare_metric + gitml.report.metrics.diff_metrics). */
  function status(name, base, head, hasBase, hasHead) {
    var rule = DATA.rules[name];
    if (!hasBase) return "added";
    if (!hasHead) return "removed";
    var b = num(base), h = num(head);
    if (b === null || h === null) {
      var numeric = typeof base === "number" || typeof head === "number";
      return numeric || base !== head ? "invalid" : "unchanged";
    }
    if (!rule) return "unjudged";
    var change = rule.higher_is_better ? h - b : b - h;
    var noise = Math.max(rule.min_absolute_change, rule.min_relative_change * Math.abs(b));
    if (change < 0 && -change > rule.tolerance + EPS) return "regressed";
    if (change > 0 && change + EPS >= noise) return "improved";
    if (change >= 0 || -change + EPS < noise) return "unchanged";
    return "within_tolerance";
  }

  function metricTable(runs) {
    var names = [];
    Object.keys(DATA.rules).forEach(function (n) {
      if (runs.some(function (r) { return n in r.metrics; })) names.push(n);
    });
    var others = {};
    runs.forEach(function (r) { Object.keys(r.metrics).forEach(function (n) { if (!(n in DATA.rules)) others[n] = 1; }); });
    names = names.concat(Object.keys(others).sort());
    var t = el("table", {"class": "diff", id: "diff-metrics"});
    t.appendChild(el("caption", {}, "Metrics against " + runs[0].name + " (the first selected)"));
    var head = t.createTHead().insertRow();
    head.appendChild(el("th", {scope: "col"}, "Metric"));
    runs.forEach(function (r, i) { head.appendChild(el("th", {scope: "col"}, (i === 0 ? "base: " : "") + r.name)); });
    var body = t.createTBody();
    names.forEach(function (n) {
      var tr = body.insertRow();
      tr.appendChild(el("th", {scope: "row"}, n));
      var base = runs[0].metrics[n];
      tr.appendChild(el("td", {"class": "num"}, fmt(base)));
      runs.slice(1).forEach(function (r) {
        var v = r.metrics[n];
        var s = status(n, base, v, n in runs[0].metrics, n in r.metrics);
        var d = num(v) !== null && num(base) !== null ? num(v) - num(base) : null;
        var td = el("td", {"class": "num status-" + s, "data-status": s});
        td.textContent = fmt(v) + (d === null ? "" : " (" + (d >= 0 ? "+" : "") + d.toFixed(4) + ")") + " " + s.replace("_", " ");
        tr.appendChild(td);
      });
    });
    return t;
  }

  function paramTable(runs) {
    var keys = {};
    runs.forEach(function (r) { Object.keys(r.params).forEach(function (k) { keys[k] = 1; }); });
    var differing = Object.keys(keys).sort().filter(function (k) {
      var first = JSON.stringify(runs[0].params[k]);
      return runs.some(function (r) { return JSON.stringify(r.params[k]) !== first; });
    });
    var t = el("table", {"class": "diff", id: "diff-params"});
    t.appendChild(el("caption", {}, differing.length ? "Params that differ" : "No param differs"));
    var head = t.createTHead().insertRow();
    head.appendChild(el("th", {scope: "col"}, "Param"));
    runs.forEach(function (r) { head.appendChild(el("th", {scope: "col"}, r.name)); });
    var body = t.createTBody();
    differing.forEach(function (k) {
      var tr = body.insertRow();
      tr.appendChild(el("th", {scope: "row"}, k));
      runs.forEach(function (r) { tr.appendChild(el("td", {}, fmt(r.params[k]))); });
    });
    return t;
  }

  function plotSvg(name, runs) {
    var spec = PLOTS[name], W = 360, H = 280, L = 44, R = 12, T = 28, B = 40;
    var pw = W - L - R, ph = H - T - B;
    var svg = svgEl("svg", {role: "img", "aria-label": spec[0] + " of the selected runs", width: W, height: H,
                            viewBox: "0 0 " + W + " " + H, "class": "chart overlay", "data-plot": name});
    var title = svgEl("text", {x: W / 2, y: 16, "text-anchor": "middle", "class": "title"});
    title.textContent = spec[0];
    svg.appendChild(title);
    svg.appendChild(svgEl("rect", {x: L, y: T, width: pw, height: ph, "class": "frame"}));
    [0, 0.5, 1].forEach(function (f) {
      var tx = svgEl("text", {x: L + f * pw, y: T + ph + 14, "text-anchor": "middle", "class": "tick"});
      tx.textContent = String(f); svg.appendChild(tx);
      var ty = svgEl("text", {x: L - 4, y: T + ph - f * ph + 4, "text-anchor": "end", "class": "tick"});
      ty.textContent = String(f); svg.appendChild(ty);
    });
    var ax = svgEl("text", {x: L + pw / 2, y: H - 6, "text-anchor": "middle", "class": "axis"});
    ax.textContent = spec[1]; svg.appendChild(ax);
    var ay = svgEl("text", {x: 12, y: T + ph / 2, "text-anchor": "middle", "class": "axis",
                            transform: "rotate(-90 12 " + (T + ph / 2) + ")"});
    ay.textContent = spec[2]; svg.appendChild(ay);
    var drawn = 0;
    runs.forEach(function (r, i) {
      var pts = r.plots[name];
      if (!pts || !pts.length) return;
      var line = svgEl("polyline", {
        points: pts.map(function (p) {
          var x = Math.min(1, Math.max(0, p[0])), y = Math.min(1, Math.max(0, p[1]));
          return (L + x * pw).toFixed(1) + "," + (T + ph - y * ph).toFixed(1);
        }).join(" "),
        fill: "none", stroke: COLORS[i], "stroke-width": 2, "class": "series", "data-run": r.name
      });
      if (i > 0) line.setAttribute("stroke-dasharray", ["", "6 3", "2 2", "8 3 2 3"][i]);
      svg.appendChild(line);
      var ly = T + 10 + 14 * drawn;
      svg.appendChild(svgEl("line", {x1: L + 8, y1: ly, x2: L + 24, y2: ly, stroke: COLORS[i], "stroke-width": 2}));
      var lt = svgEl("text", {x: L + 28, y: ly + 4, "class": "tick"});
      lt.textContent = r.name.slice(0, 24); svg.appendChild(lt);
      drawn++;
    });
    return drawn ? svg : null;
  }

  function confusionTables(runs) {
    var wrap = el("div", {"class": "confusions"});
    runs.forEach(function (r) {
      var c = r.plots.confusion;
      if (!c) return;
      var t = el("table", {"class": "confusion"});
      t.appendChild(el("caption", {}, "Confusion: " + r.name));
      var head = t.createTHead().insertRow();
      head.appendChild(el("th", {scope: "col"}, "actual \\ predicted"));
      c.labels.forEach(function (l) { head.appendChild(el("th", {scope: "col"}, l)); });
      var body = t.createTBody();
      c.labels.forEach(function (a, i) {
        var tr = body.insertRow();
        tr.appendChild(el("th", {scope: "row"}, a));
        c.counts[i].forEach(function (n) { tr.appendChild(el("td", {"class": "num"}, String(n))); });
      });
      wrap.appendChild(t);
    });
    return wrap;
  }

  function render() {
    var section = document.getElementById("compare");
    var body = document.getElementById("compare-body");
    body.textContent = "";
    rows.forEach(function (tr) { tr.classList.toggle("selected", selected.indexOf(tr.dataset.id) >= 0); });
    if (selected.length < 2) {
      section.hidden = selected.length === 0;
      if (selected.length === 1) body.appendChild(el("p", {}, "Select one to three more runs to compare."));
      return;
    }
    section.hidden = false;
    var runs = selected.map(function (id) { return DATA.runs[id]; });
    body.appendChild(metricTable(runs));
    body.appendChild(paramTable(runs));
    var plots = el("div", {"class": "plots", id: "diff-plots"});
    Object.keys(PLOTS).forEach(function (name) {
      var svg = plotSvg(name, runs);
      if (svg) plots.appendChild(svg);
    });
    body.appendChild(plots);
    body.appendChild(confusionTables(runs));
  }
})();
