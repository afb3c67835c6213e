// Grouped bars for `webjit bench` (saved as a PNG): window.webjitChart({title, note, groups:
// [label], series: [{label, color, light, values: [number | null]}]}) draws one group of
// bars per label, each group scaled to its own tallest bar (models differ by 100x), with
// the value written above every bar; `shared: true` puts every group on one scale instead.
const PAD = { left: 20, right: 20, top: 60, bottom: 70 };

function draw(canvas, { title = '', note = '', groups = [], series = [], shared = false }) {
  const ctx = canvas.getContext('2d'), width = canvas.width, height = canvas.height;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  ctx.fillStyle = '#222';
  ctx.font = '15px sans-serif';
  ctx.fillText(title, PAD.left, 22);
  ctx.font = '12px sans-serif';
  ctx.fillStyle = '#666';
  ctx.fillText(note, PAD.left, height - 12);
  series.forEach((s, i) => {  // legend
    const x = PAD.left + i * 150;
    ctx.fillStyle = s.color;
    ctx.globalAlpha = s.light ? 0.55 : 1;
    ctx.fillRect(x, 34, 12, 12);
    ctx.globalAlpha = 1;
    ctx.fillStyle = '#222';
    ctx.fillText(s.label, x + 16, 45);
  });
  const plotH = height - PAD.top - PAD.bottom, groupW = (width - PAD.left - PAD.right) / Math.max(groups.length, 1);
  const barW = (groupW * 0.8) / Math.max(series.length, 1);
  groups.forEach((label, g) => {
    const top = Math.max(...series.flatMap((s) => (shared ? s.values : [s.values[g]]).map((v) => v ?? 0)), 1e-9);
    const x0 = PAD.left + g * groupW + groupW * 0.1;
    series.forEach((s, i) => {
      const v = s.values[g];
      if (v === null || v === undefined) return;
      const h = (v / top) * (plotH - 18), x = x0 + i * barW, y = PAD.top + plotH - h;
      ctx.fillStyle = s.color;
      ctx.globalAlpha = s.light ? 0.55 : 1;
      ctx.fillRect(x + 2, y, barW - 4, h);
      ctx.globalAlpha = 1;
      ctx.fillStyle = '#222';
      ctx.font = '11px sans-serif';
      const text = v >= 100 ? v.toFixed(0) : v.toFixed(1);
      ctx.fillText(text, x + 2, y - 4);
    });
    ctx.font = '13px sans-serif';
    ctx.fillStyle = '#222';
    ctx.fillText(label, x0, PAD.top + plotH + 18);
  });
}

window.webjitChart = (data) => {
  draw(document.getElementById('chart'), data);
  document.documentElement.dataset.webjit = 'drawn';
};
document.documentElement.dataset.webjit = 'ready';
