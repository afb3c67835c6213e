// The page `webjit bench jit` draws its time-to-fast chart on: window.webjitChart(data)
// draws it (chart.js) and marks <html data-webjit="drawn">, then the caller saves a screenshot.
import { drawLatencyChart } from './chart.js';

window.webjitChart = (data) => {
  drawLatencyChart(document.getElementById('chart'), data);
  document.documentElement.dataset.webjit = 'drawn';
};
document.documentElement.dataset.webjit = 'ready';
