// A browser worker of the pool (pool.js starts it; Node starts worker_node.js instead).
import { serve } from './thread.js';

serve((message) => self.postMessage(message), (handler) => { self.onmessage = (event) => handler(event.data); });
