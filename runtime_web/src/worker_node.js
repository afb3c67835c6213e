// A Node worker_threads worker of the pool (platform_node.js starts it).
import { parentPort } from 'node:worker_threads';
import { serve } from './thread.js';

serve((message) => parentPort.postMessage(message), (handler) => parentPort.on('message', handler));
