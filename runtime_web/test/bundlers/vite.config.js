// `vite build` of app/ (tests/test_bundlers.py): the worker is emitted as an ES module.
export default {
  root: 'app',
  base: './',
  logLevel: 'warn',
  build: { target: 'esnext', emptyOutDir: true },
  worker: { format: 'es' },
};
