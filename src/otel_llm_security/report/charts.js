/* Report charts: draws SVG charts from the JSON embedded in the page. No network, no
 * library. Text from the data goes into the DOM through textContent only, never as
 * markup: model names and block reasons come from telemetry and are untrusted.
 * After drawing, each <figure> gets data-marks (bars drawn) and data-area (their
 * rendered area in px², measured by the browser), which the report test reads. */
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var COLORS = { blocked: "#d6455d", allowed: "#54b399", input: "#6092c0", output: "#d6bf57", bar: "#9170b8" };

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    if (parent) parent.appendChild(node);
    return node;
  }
  function text(parent, x, y, value, attrs) {
    var t = el("text", Object.assign({ x: x, y: y }, attrs || {}), parent);
    t.textContent = value;
    return t;
  }
  /* Axis scale: a 1-2-5 step giving at most 5 intervals, and the max as a whole number of
   * steps (so count axes tick on integers when the step is). */
  function niceScale(v, integer) {
    if (!(v > 0)) return { max: integer ? 4 : 1, step: integer ? 1 : 0.25 };
    var raw = v / 5;
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 5, 10].map(function (m) { return m * p; }).filter(function (s) { return s >= raw; })[0];
    if (integer) step = Math.max(1, Math.round(step));
    return { max: step * Math.ceil(v / step), step: step };
  }
  function niceMax(v) {
    return niceScale(v, false).max;
  }
  function fmt(v) {
    if (v >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (v >= 1e4) return Math.round(v / 1e3) + "k";
    if (v % 1 !== 0) return v.toFixed(2);
    return String(v);
  }
  /* Draw at the size the figure is laid out at, so text keeps its CSS pixel size. */
  function plotWidth(figure) {
    var w = figure.querySelector(".plot").clientWidth;
    return w && w > 320 ? w : 720;
  }
  function svgFor(figure, width, height) {
    var holder = figure.querySelector(".plot");
    var svg = el("svg", { viewBox: "0 0 " + width + " " + height, width: "100%", role: "img" });
    svg.setAttribute("aria-label", figure.querySelector("figcaption").textContent);
    holder.appendChild(svg);
    return svg;
  }
  function empty(figure, message) {
    var p = document.createElement("p");
    p.className = "empty";
    p.textContent = message;
    figure.querySelector(".plot").appendChild(p);
  }
  function legend(figure, series) {
    var ul = document.createElement("ul");
    ul.className = "legend";
    series.forEach(function (s) {
      var li = document.createElement("li");
      var sw = document.createElement("span");
      sw.className = "swatch";
      sw.style.background = s.color;
      li.appendChild(sw);
      li.appendChild(document.createTextNode(s.label));
      ul.appendChild(li);
    });
    figure.appendChild(ul);
  }

  /* Vertical stacked columns: one column per category, one segment per series. */
  function stackedColumns(figure, categories, series, opts) {
    if (!categories.length) return empty(figure, opts.emptyText);
    var W = plotWidth(figure), H = 300, L = 56, R = 12, T = 12, B = opts.rotate ? 86 : 46;
    var svg = svgFor(figure, W, H);
    var totals = categories.map(function (c) {
      return series.reduce(function (s, k) { return s + (c[k.key] || 0); }, 0);
    });
    var scale = niceScale(Math.max.apply(null, totals), opts.counts);
    var max = scale.max;
    var plotW = W - L - R, plotH = H - T - B;
    for (var v = 0; v <= max + scale.step / 2; v += scale.step) {
      var gy = T + plotH - (plotH * v) / max;
      el("line", { x1: L, x2: W - R, y1: gy, y2: gy, class: "grid" }, svg);
      text(svg, L - 6, gy + 4, fmt(v), { "text-anchor": "end", class: "tick" });
    }
    var step = plotW / categories.length;
    var bw = Math.max(2, Math.min(48, step * 0.7));
    var labelEvery = Math.ceil(categories.length / 12);
    categories.forEach(function (c, i) {
      var x = L + i * step + (step - bw) / 2;
      var y = T + plotH;
      series.forEach(function (s) {
        var v = c[s.key] || 0;
        if (!v) return;
        var h = (plotH * v) / max;
        y -= h;
        var r = el("rect", { x: x, y: y, width: bw, height: h, fill: s.color, class: "mark" }, svg);
        el("title", {}, r).textContent = opts.labelOf(c) + " · " + s.label + ": " + v;
      });
      if (i % labelEvery === 0) {
        var lx = x + bw / 2, ly = T + plotH + 16;
        var attrs = opts.rotate
          ? { "text-anchor": "end", class: "tick", transform: "rotate(-35 " + lx + " " + ly + ")" }
          : { "text-anchor": "middle", class: "tick" };
        text(svg, lx, ly, opts.tickOf(c), attrs);
      }
    });
    el("line", { x1: L, x2: W - R, y1: T + plotH, y2: T + plotH, class: "axis" }, svg);
    legend(figure, series);
  }

  /* Horizontal bars with the label on the left and the value at the end. */
  function bars(figure, rows, opts) {
    if (!rows.length) return empty(figure, opts.emptyText);
    var W = plotWidth(figure), rowH = 28, R = 70, T = 8;
    var L = Math.min(230, Math.round(W * 0.4));
    var H = T * 2 + rows.length * rowH;
    var svg = svgFor(figure, W, H);
    var max = opts.max || niceMax(Math.max.apply(null, rows.map(function (r) { return r.value; })));
    rows.forEach(function (row, i) {
      var y = T + i * rowH;
      var w = Math.max(1, ((W - L - R) * row.value) / max);
      var label = row.label.length > 34 ? row.label.slice(0, 33) + "…" : row.label;
      text(svg, L - 8, y + rowH / 2 + 4, label, { "text-anchor": "end", class: "label" });
      var r = el("rect", { x: L, y: y + 4, width: w, height: rowH - 8, fill: opts.colorOf(row), class: "mark", rx: 2 }, svg);
      el("title", {}, r).textContent = row.label + ": " + opts.valueText(row);
      text(svg, L + w + 6, y + rowH / 2 + 4, opts.valueText(row), { class: "value" });
    });
  }

  function riskColor(row) {
    if (row.value >= 0.8) return "#bd271e";
    if (row.value >= 0.5) return "#e7664c";
    if (row.value > 0) return "#d6bf57";
    return "#54b399";
  }

  function table(id, rows, columns, emptyText) {
    var tbody = document.querySelector("#" + id + " tbody");
    if (!rows.length) {
      var tr = document.createElement("tr");
      var td = document.createElement("td");
      td.colSpan = columns.length;
      td.className = "empty";
      td.textContent = emptyText;
      tr.appendChild(td);
      tbody.appendChild(tr);
      return;
    }
    rows.forEach(function (row) {
      var tr = document.createElement("tr");
      columns.forEach(function (c) {
        var td = document.createElement("td");
        td.textContent = row[c] === undefined ? "" : String(row[c]);
        if (c === "severity") td.className = "sev sev-" + String(row[c]).toLowerCase();
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
  }

  function measure(figure) {
    var marks = figure.querySelectorAll("svg .mark");
    var area = 0;
    for (var i = 0; i < marks.length; i++) {
      var box = marks[i].getBoundingClientRect();
      area += box.width * box.height;
    }
    figure.setAttribute("data-marks", String(marks.length));
    figure.setAttribute("data-area", String(Math.round(area)));
  }

  function draw() {
    var data = JSON.parse(document.getElementById("report-data").textContent);
    var s = data.summary;
    [["calls", "LLM calls"], ["flagged", "Flagged"], ["blocked", "Blocked"], ["alerts", "Alerts"], ["users", "End users"], ["tokens", "Tokens"]]
      .forEach(function (k) {
        var div = document.createElement("div");
        div.className = "kpi kpi-" + k[0];
        var b = document.createElement("b");
        b.textContent = fmt(s[k[0]]);
        var span = document.createElement("span");
        span.textContent = k[1];
        div.appendChild(b);
        div.appendChild(span);
        document.getElementById("kpis").appendChild(div);
      });

    var step = data.timeline.bucket_seconds;
    stackedColumns(document.getElementById("chart-timeline"), data.timeline.buckets,
      [{ key: "blocked", label: "Blocked", color: COLORS.blocked }, { key: "allowed", label: "Allowed", color: COLORS.allowed }],
      {
        emptyText: "No LLM calls in the store.",
        counts: true,
        labelOf: function (c) { return c.t; },
        tickOf: function (c) {
          var d = new Date(c.t);
          var iso = d.toISOString();
          return step >= 86400 ? iso.slice(5, 10) : step >= 60 ? iso.slice(11, 16) : iso.slice(11, 19);
        },
      });
    bars(document.getElementById("chart-threats"), data.threats, {
      emptyText: "No threat found.",
      colorOf: function () { return COLORS.bar; },
      valueText: function (r) { return r.value + (r.value === 1 ? " call" : " calls"); },
    });
    bars(document.getElementById("chart-users"), data.users, {
      emptyText: "No end user id on the calls.",
      max: 1,
      colorOf: riskColor,
      valueText: function (r) { return r.value.toFixed(2); },
    });
    stackedColumns(document.getElementById("chart-tokens"), data.tokens,
      [{ key: "input", label: "Input tokens", color: COLORS.input }, { key: "output", label: "Output tokens", color: COLORS.output }],
      {
        emptyText: "No token usage recorded.",
        rotate: data.tokens.length > 4,
        labelOf: function (c) { return c.label; },
        tickOf: function (c) { return c.label.length > 18 ? c.label.slice(0, 17) + "…" : c.label; },
      });
    table("alerts", data.alerts, ["rule", "severity", "user", "count", "first", "last"], "No alert: no rule fired.");
    table("users", data.users, ["label", "value", "calls", "flagged", "blocked", "alerts"], "No end user id on the calls.");
    table("blocked", data.blocked, ["time", "user", "model", "reason", "threats", "trace"], "No blocked call.");

    var figures = document.querySelectorAll("figure.chart");
    for (var i = 0; i < figures.length; i++) measure(figures[i]);
    document.body.setAttribute("data-charts-drawn", String(figures.length));
  }

  window.addEventListener("error", function (e) {
    document.body.setAttribute("data-error", String(e.message));
  });
  draw();
})();
