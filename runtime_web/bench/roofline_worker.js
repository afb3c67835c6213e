// One thread of the roofline (bench.js): instantiates the register-only multiply-add
// module on the shared memory, waits for 'go', runs it `repeat` times and posts the
// fastest (the first calls may still run on V8's baseline compiler).
self.onmessage = async ({ data }) => {
  if (data.module) {
    const { exports } = await WebAssembly.instantiate(data.module, { env: { memory: data.memory } });
    self.run = exports.run;
    self.postMessage({ ready: true });
    return;
  }
  let best = Infinity;
  for (let r = 0; r < data.repeat; r++) {
    const start = performance.now();
    self.run(data.iterations, data.out);
    best = Math.min(best, performance.now() - start);
  }
  self.postMessage({ ms: best });
};
