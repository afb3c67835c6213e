// GPU time of compute passes from timestamp queries, where the device has the
// 'timestamp-query' feature (webgpu.js falls back to timing submissions without it).
const MAP_READ = 0x1, COPY_SRC = 0x4, COPY_DST = 0x8, QUERY_RESOLVE = 0x200;
const READ = 0x1;
const MAX_GROUPS = 2048;  // two queries a group; a query set holds at most 4096

/** {time(groups), destroy()} on `device`, or null without timestamp queries. */
export function createGpuClock(device) {
  if (!device.features?.has?.('timestamp-query')) return null;
  const querySet = device.createQuerySet({ label: 'webjit timestamps', type: 'timestamp', count: 2 * MAX_GROUPS });
  const resolved = device.createBuffer({ size: 16 * MAX_GROUPS, usage: QUERY_RESOLVE | COPY_SRC });
  const staging = device.createBuffer({ size: 16 * MAX_GROUPS, usage: MAP_READ | COPY_DST });
  return {
    /**
     * Milliseconds of GPU time of each group: groups[g] is a list of {pipeline, bindGroup,
     * dispatch} encoded as one compute pass between two timestamps.
     */
    async time(groups) {
      const out = [];
      for (let at = 0; at < groups.length; at += MAX_GROUPS) {
        const chunk = groups.slice(at, at + MAX_GROUPS);
        device.pushErrorScope('validation');
        const encoder = device.createCommandEncoder({ label: 'webjit timestamps' });
        chunk.forEach((passes, g) => {
          const pass = encoder.beginComputePass({ timestampWrites: { querySet,
            beginningOfPassWriteIndex: 2 * g, endOfPassWriteIndex: 2 * g + 1 } });
          for (const { pipeline, bindGroup, dispatch } of passes) {
            pass.setPipeline(pipeline);
            if (bindGroup) pass.setBindGroup(0, bindGroup);
            pass.dispatchWorkgroups(...dispatch);
          }
          pass.end();
        });
        const bytes = 16 * chunk.length;
        encoder.resolveQuerySet(querySet, 0, 2 * chunk.length, resolved, 0);
        encoder.copyBufferToBuffer(resolved, 0, staging, 0, bytes);
        device.queue.submit([encoder.finish()]);
        const error = await device.popErrorScope();
        if (error) throw new Error(`timing on the GPU failed: ${error.message}`);
        await staging.mapAsync(READ, 0, bytes);
        const ns = new BigInt64Array(staging.getMappedRange(0, bytes).slice(0));
        staging.unmap();
        for (let g = 0; g < chunk.length; g++) out.push(Math.max(0, Number(ns[2 * g + 1] - ns[2 * g])) / 1e6);
      }
      return out;
    },
    destroy() {
      querySet.destroy();
      resolved.destroy();
      staging.destroy();
    },
  };
}
