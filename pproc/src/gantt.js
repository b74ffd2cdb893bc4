// The interactive Gantt chart of scope-profiler-pproc: a canvas redrawn on
// every zoom or pan, so bars, labels and the time axis stay sharp at any
// zoom. Calls narrower than a pixel are drawn one pixel per pixel column
// (level of detail), so 10^5 calls draw in milliseconds.
//
// ganttChart(root, data): root is an element holding .gantt-canvas (a
// <canvas>), .gantt-tip, .legend and buttons with data-zoom = in, out or
// reset; data is the JSON of gantt.rs' chart_data. The chart's functions
// are also root.gantt; after each draw root.dataset.view holds the visible
// range and root.dataset.ticks the axis labels.
"use strict";

function ganttChart(root, data) {
  const ROW = 18, LANE_GAP = 6, AXIS = 24, PAD_RIGHT = 12, FONT = "11px sans-serif";
  const canvas = root.querySelector(".gantt-canvas");
  const tip = root.querySelector(".gantt-tip");
  const ctx = canvas.getContext("2d");
  const calls = data.calls;
  const n = calls.start.length;
  const span = Math.max(1, data.span);

  // Lanes: the first row and the number of rows of each.
  const laneTop = [];
  let rowCount = 0;
  for (const lane of data.lanes) { laneTop.push(rowCount); rowCount += lane.rows; }
  // Per row, the calls on it in start order (they never overlap on a row).
  const rowSize = new Int32Array(rowCount);
  const rowOf = new Int32Array(n);
  for (let i = 0; i < n; i++) { rowOf[i] = laneTop[calls.lane[i]] + calls.depth[i]; rowSize[rowOf[i]]++; }
  const rowStart = new Int32Array(rowCount + 1);
  for (let r = 0; r < rowCount; r++) rowStart[r + 1] = rowStart[r] + rowSize[r];
  const order = new Int32Array(n);
  const next = rowStart.slice(0, rowCount);
  for (let i = 0; i < n; i++) order[next[rowOf[i]]++] = i;
  const rowY = new Float64Array(rowCount);
  {
    let y = AXIS + 4;
    data.lanes.forEach((lane, l) => {
      for (let d = 0; d < lane.rows; d++) rowY[laneTop[l] + d] = y + d * ROW;
      y += lane.rows * ROW + LANE_GAP;
    });
  }
  const plotBottom = rowCount ? rowY[rowCount - 1] + ROW + LANE_GAP : AXIS + 4;
  const height = plotBottom + AXIS;

  ctx.font = FONT;
  let labelWidth = 80;
  for (const lane of data.lanes) labelWidth = Math.max(labelWidth, ctx.measureText(lane.label).width + 16);
  labelWidth = Math.min(labelWidth, 320);

  const textOn = data.colours.map(hex => {
    const v = parseInt(hex.slice(1), 16);
    const lum = 0.299 * (v >> 16 & 255) + 0.587 * (v >> 8 & 255) + 0.114 * (v & 255);
    return lum > 128 ? "#000" : "#fff";
  });

  let width = 0, v0 = 0, v1 = span, drawPending = false;

  function resize() {
    width = Math.max(300, root.clientWidth);
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    canvas.style.width = width + "px";
    canvas.style.height = height + "px";
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    draw();
  }
  const plotWidth = () => Math.max(1, width - labelWidth - PAD_RIGHT);
  const xOf = t => labelWidth + (t - v0) / (v1 - v0) * plotWidth();
  const tOf = x => v0 + (x - labelWidth) / plotWidth() * (v1 - v0);

  function schedule() {
    if (!drawPending) { drawPending = true; requestAnimationFrame(flush); }
  }

  // Round ticks: 1, 2 or 5 times a power of ten, at least ~90 px apart.
  function tickStep(range, maxTicks) {
    const raw = range / Math.max(1, maxTicks);
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * p >= raw) return Math.max(1, m * p);
    return Math.max(1, 10 * p);
  }
  const UNITS = [[1e9, "s"], [1e6, "ms"], [1e3, "\u00b5s"], [1, "ns"]];
  function unitOf(ns) { for (const u of UNITS) if (Math.abs(ns) >= u[0]) return u; return UNITS[3]; }
  // Every label of an axis in the unit of its far end, with the decimals
  // the step needs in that unit (as units.rs' tick_label).
  function tickLabel(t, step, end) {
    const [size, sym] = unitOf(Math.max(Math.abs(end), step));
    const decimals = Math.max(0, Math.ceil(-Math.log10(step / size) - 1e-9));
    return (t / size).toFixed(decimals) + " " + sym;
  }
  function duration(ns) {
    if (ns === 0) return "0 ns";
    const [size, sym] = unitOf(ns);
    const v = ns / size;
    if (size === 1) return (Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1)) + " ns";
    const digits = Math.min(4, Math.max(1, Math.floor(Math.log10(Math.abs(v))) + 1));
    return v.toFixed(4 - digits) + " " + sym;
  }

  function drawAxis(y, labelsBelow) {
    const step = tickStep(v1 - v0, plotWidth() / 90);
    const labels = [];
    ctx.fillStyle = "#333";
    ctx.strokeStyle = "#999";
    ctx.textAlign = "center";
    ctx.textBaseline = labelsBelow ? "top" : "bottom";
    ctx.beginPath();
    ctx.moveTo(labelWidth, y + 0.5); ctx.lineTo(width - PAD_RIGHT, y + 0.5);
    for (let k = Math.ceil(v0 / step); k * step <= v1; k++) {
      const t = k * step;
      const x = Math.round(xOf(t)) + 0.5;
      ctx.moveTo(x, y + (labelsBelow ? 0 : -4)); ctx.lineTo(x, y + (labelsBelow ? 4 : 0));
      const label = tickLabel(t, step, v1);
      labels.push(label);
      ctx.fillText(label, x, y + (labelsBelow ? 6 : -6));
    }
    ctx.stroke();
    root.dataset.ticks = labels.join("|");
  }

  function drawGrid(step) {
    ctx.strokeStyle = "#e6e6e6";
    ctx.beginPath();
    for (let k = Math.ceil(v0 / step); k * step <= v1; k++) {
      const t = k * step;
      const x = Math.round(xOf(t)) + 0.5;
      ctx.moveTo(x, AXIS); ctx.lineTo(x, plotBottom);
    }
    ctx.stroke();
  }

  // First index in row r (into order) whose call ends after t.
  function firstEndingAfter(r, t) {
    let lo = rowStart[r], hi = rowStart[r + 1];
    while (lo < hi) {
      const mid = (lo + hi) >> 1, i = order[mid];
      if (calls.start[i] + calls.dur[i] <= t) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  function fitText(text, room) {
    if (ctx.measureText(text).width <= room) return text;
    let lo = 0, hi = text.length;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (ctx.measureText(text.slice(0, mid) + "\u2026").width <= room) lo = mid; else hi = mid - 1;
    }
    // A stub like "f…" says nothing: at least three characters or none.
    return lo >= 3 ? text.slice(0, lo) + "\u2026" : "";
  }

  function drawBars() {
    ctx.save();
    ctx.beginPath();
    ctx.rect(labelWidth, AXIS, plotWidth(), plotBottom - AXIS);
    ctx.clip();
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    const scale = plotWidth() / (v1 - v0);
    for (let r = 0; r < rowCount; r++) {
      const y = rowY[r], end = rowStart[r + 1];
      let lastPixel = -1;
      for (let k = firstEndingAfter(r, v0); k < end; k++) {
        const i = order[k], s = calls.start[i];
        if (s >= v1) break;
        const x0 = labelWidth + (s - v0) * scale, w = calls.dur[i] * scale;
        const region = calls.region[i];
        if (w < 1) {
          const pixel = Math.floor(x0);
          if (pixel === lastPixel) continue;
          lastPixel = pixel;
          ctx.fillStyle = data.colours[region];
          ctx.fillRect(pixel, y + 1, 1, ROW - 2);
          continue;
        }
        lastPixel = Math.floor(x0 + w);
        ctx.fillStyle = data.colours[region];
        ctx.fillRect(x0, y + 1, Math.max(1, w - (w > 3 ? 1 : 0)), ROW - 2);
        if (w > 28) {
          const left = Math.max(x0, labelWidth) + 3, room = x0 + w - left - 4;
          const label = fitText(data.names[region], room);
          if (label) { ctx.fillStyle = textOn[region]; ctx.fillText(label, left, y + ROW / 2); }
        }
      }
    }
    ctx.restore();
  }

  function drawLaneLabels() {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, labelWidth, height);
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    data.lanes.forEach((lane, l) => {
      const top = rowY[laneTop[l]];
      ctx.fillStyle = "#222";
      ctx.fillText(fitText(lane.label, labelWidth - 12), 6, top + ROW / 2);
      ctx.strokeStyle = "#ccc";
      ctx.beginPath();
      ctx.moveTo(0, top - LANE_GAP / 2 + 0.5); ctx.lineTo(width, top - LANE_GAP / 2 + 0.5);
      ctx.stroke();
    });
  }

  function draw() {
    ctx.font = FONT;
    ctx.clearRect(0, 0, width, height);
    data.lanes.forEach((lane, l) => {
      if (l % 2) {
        ctx.fillStyle = "#f6f7f9";
        ctx.fillRect(labelWidth, rowY[laneTop[l]] - LANE_GAP / 2, width, lane.rows * ROW + LANE_GAP);
      }
    });
    const step = tickStep(v1 - v0, plotWidth() / 90);
    drawGrid(step);
    drawBars();
    drawLaneLabels();
    drawAxis(AXIS - 2, false);
    drawAxis(plotBottom, true);
    root.dataset.view = v0 + "," + v1;
  }

  // Zoom by `factor` around time `at`, keeping it under the cursor.
  function zoom(factor, at) {
    const range = Math.min(span, Math.max(10, (v1 - v0) * factor));
    const f = (at - v0) / (v1 - v0);
    v0 = at - f * range; v1 = v0 + range;
    clampView(); schedule();
  }
  function pan(dt) { v0 += dt; v1 += dt; clampView(); schedule(); }
  function clampView() {
    const range = v1 - v0;
    if (v0 < 0) { v0 = 0; v1 = range; }
    if (v1 > span) { v1 = span; v0 = Math.max(0, span - range); }
  }

  canvas.addEventListener("wheel", e => {
    const r = canvas.getBoundingClientRect();
    const x = e.clientX - r.left;
    // Over the lane names the wheel scrolls the page as usual.
    if (x < labelWidth) return;
    e.preventDefault();
    if (Math.abs(e.deltaX) > Math.abs(e.deltaY) || e.shiftKey) {
      const d = Math.abs(e.deltaX) > Math.abs(e.deltaY) ? e.deltaX : e.deltaY;
      pan(d / plotWidth() * (v1 - v0));
    } else {
      const at = tOf(x);
      zoom(Math.exp(e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015)), at);
    }
  }, { passive: false });

  let drag = null;
  canvas.addEventListener("mousedown", e => {
    drag = { x: e.clientX, v0 };
    canvas.style.cursor = "grabbing";
    e.preventDefault();
  });
  window.addEventListener("mouseup", () => { drag = null; canvas.style.cursor = "grab"; });
  window.addEventListener("mousemove", e => {
    if (!drag) return;
    const range = v1 - v0;
    v0 = drag.v0 - (e.clientX - drag.x) / plotWidth() * range; v1 = v0 + range;
    clampView(); schedule();
  });
  canvas.addEventListener("dblclick", () => { v0 = 0; v1 = span; schedule(); });
  for (const button of root.querySelectorAll("[data-zoom]")) {
    button.addEventListener("click", () => {
      const kind = button.dataset.zoom;
      if (kind === "reset") { v0 = 0; v1 = span; schedule(); }
      else zoom(kind === "in" ? 0.5 : 2, (v0 + v1) / 2);
    });
  }

  // The call under (x, y), allowing two pixels for thin bars.
  function callAt(x, y) {
    let r = -1;
    for (let k = 0; k < rowCount; k++) if (y >= rowY[k] && y < rowY[k] + ROW) { r = k; break; }
    if (r < 0 || x < labelWidth) return -1;
    const slack = 2 * (v1 - v0) / plotWidth(), t = tOf(x);
    const k = firstEndingAfter(r, t - slack);
    if (k < rowStart[r + 1]) {
      const i = order[k];
      if (calls.start[i] <= t + slack) return i;
    }
    return -1;
  }
  canvas.addEventListener("mousemove", e => {
    if (drag) { tip.style.display = "none"; return; }
    const rect = canvas.getBoundingClientRect();
    const i = callAt(e.clientX - rect.left, e.clientY - rect.top);
    if (i < 0) { tip.style.display = "none"; return; }
    tip.textContent = data.names[calls.region[i]] + "\n" + duration(calls.dur[i]) +
      " \u00b7 starts at " + duration(calls.start[i]) + "\n" + data.lanes[calls.lane[i]].label;
    tip.style.display = "block";
    tip.style.left = Math.min(e.clientX + 14, window.innerWidth - tip.offsetWidth - 4) + "px";
    tip.style.top = (e.clientY + 14) + "px";
  });
  canvas.addEventListener("mouseleave", () => { tip.style.display = "none"; });
  window.addEventListener("resize", resize);

  // Draws a redraw that is waiting for the next animation frame now.
  function flush() { if (drawPending) { drawPending = false; draw(); } }

  canvas.style.cursor = "grab";
  resize();
  root.dataset.renderedMs = performance.now().toFixed(0);
  const api = { zoom, pan, draw, flush };
  root.gantt = api;
  return api;
}
