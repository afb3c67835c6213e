// A latency-per-run chart on a canvas, for the demo page (drawn again after every run) and
// for the time-to-fast chart of `webjit bench jit` (drawn once and saved as a PNG). No
// dependencies: a few lines of canvas 2D are all a scatter of runs and two levels need.
//
//   drawLatencyChart(canvas, {runs: [{at_ms, latency_ms}], swaps: [{at_ms}], levels:
//                    [{label, ms, color}], title, note})

const PAD = { left: 56, right: 16, top: 44, bottom: 40 };

function niceStep(range, ticks) {
  const raw = range / Math.max(ticks, 1);
  const power = 10 ** Math.floor(Math.log10(raw || 1));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? raw;
}

export function drawLatencyChart(canvas, { runs = [], swaps = [], levels = [], title = '', note = '' }) {
  const ctx = canvas.getContext('2d');
  const width = canvas.width, height = canvas.height;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  ctx.font = '13px sans-serif';
  ctx.fillStyle = '#222';
  ctx.fillText(title, PAD.left, 18);
  if (!runs.length) return;
  const seconds = runs.map((r) => r.at_ms / 1000);
  const xMax = Math.max(...seconds, 1);
  const sorted = runs.map((r) => r.latency_ms).sort((a, b) => a - b);
  const yMax = Math.max(sorted[Math.floor(0.98 * (sorted.length - 1))] * 1.1, ...levels.map((l) => l.ms * 1.2));
  const yMin = 0;
  const x = (s) => PAD.left + (s / xMax) * (width - PAD.left - PAD.right);
  const y = (ms) => height - PAD.bottom - ((Math.min(ms, yMax) - yMin) / (yMax - yMin)) * (height - PAD.top - PAD.bottom);

  ctx.strokeStyle = '#ddd';
  ctx.fillStyle = '#555';
  ctx.lineWidth = 1;
  const yStep = niceStep(yMax - yMin, 6);
  for (let v = 0; v <= yMax; v += yStep) {
    ctx.beginPath(); ctx.moveTo(PAD.left, y(v)); ctx.lineTo(width - PAD.right, y(v)); ctx.stroke();
    ctx.fillText(`${Number(v.toPrecision(3))}`, 8, y(v) + 4);
  }
  const xStep = niceStep(xMax, 10);
  for (let s = 0; s <= xMax; s += xStep) {
    ctx.fillText(`${Number(s.toPrecision(3))}`, x(s) - 6, height - PAD.bottom + 16);
  }
  ctx.fillText('seconds of use', width / 2 - 40, height - 8);
  ctx.fillText('ms per run', 8, PAD.top - 12);

  ctx.strokeStyle = '#e8a33d';
  for (const swap of swaps) {
    ctx.beginPath(); ctx.moveTo(x(swap.at_ms / 1000), PAD.top); ctx.lineTo(x(swap.at_ms / 1000), height - PAD.bottom); ctx.stroke();
  }
  ctx.fillStyle = '#2b6cb0';
  for (const r of runs) {
    ctx.beginPath();
    ctx.arc(x(r.at_ms / 1000), y(r.latency_ms), 2, 0, 2 * Math.PI);
    ctx.fill();
  }
  let legendY = PAD.top + 14;
  for (const level of levels) {
    ctx.strokeStyle = level.color ?? '#c53030';
    ctx.setLineDash([6, 4]);
    ctx.beginPath(); ctx.moveTo(PAD.left, y(level.ms)); ctx.lineTo(width - PAD.right, y(level.ms)); ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = level.color ?? '#c53030';
    ctx.fillText(`${level.label} ${level.ms.toFixed(1)} ms`, width - PAD.right - 240, legendY);
    legendY += 16;
  }
  if (swaps.length) {
    ctx.fillStyle = '#e8a33d';
    ctx.fillText('| a kernel swapped', width - PAD.right - 240, legendY);
    legendY += 16;
  }
  if (note) {
    ctx.fillStyle = '#555';
    ctx.fillText(note, PAD.left + 8, height - PAD.bottom - 8);
  }
}
