// The Node entry of the package (the `node` condition of its exports): Node's file reads,
// worker threads, core count, inflate and tuning folder, then the same API as src/index.js.
import './platform_node.js';

export * from './index.js';
