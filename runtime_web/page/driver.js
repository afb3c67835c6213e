// Driver page for webjit's Python side (`webjit tune`, `webjit run --profile`): exposes
// window.webjitDriver.call(command) (src/driver.js) and marks <html data-webjit="ready">.
// No inline script and no eval: it runs under script-src 'self' 'wasm-unsafe-eval'.
import { createDriver } from '../src/driver.js';

const driver = createDriver();
const status = document.getElementById('status');
window.webjitDriver = {
  async call(command) {
    status.textContent = `${command?.command ?? '?'} running`;
    const reply = await driver.call(command);
    status.textContent = `${command?.command ?? '?'} ${reply.ok ? 'done' : 'failed'}`;
    return reply;
  },
};
status.textContent = 'ready';
document.documentElement.dataset.webjit = 'ready';
