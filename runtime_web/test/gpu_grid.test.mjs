import { test } from 'node:test';
import assert from 'node:assert/strict';
import { workgroupGrid } from '../src/gpu_device.js';

test('a symbolic dispatch is data evaluated for each run, spread within the per-dimension cap', () => {
  const dispatch = { groups: { sym: [[384, ['seq']]] }, per: 256, times: 2 };
  assert.deepEqual(workgroupGrid(dispatch, { seq: 1 }, 65535), [4, 1, 1]);  // 2 * ceil(384 / 256)
  assert.deepEqual(workgroupGrid(dispatch, { seq: 512 }, 65535), [1536, 1, 1]);
  assert.deepEqual(workgroupGrid(dispatch, { seq: 512 }, 1000), [1000, 2, 1]);
  assert.deepEqual(workgroupGrid(dispatch, { seq: 512 }, 30), [30, 30, 2]);
  assert.deepEqual(workgroupGrid({ groups: 0, per: 1, times: 1 }, {}, 65535), [1, 1, 1]);  // the kernel skips id 0
  assert.deepEqual(workgroupGrid([3, 2, 1], { seq: 9 }, 65535), [3, 2, 1]);  // a fixed dispatch stays
});

test('the manifest check accepts a symbolic dispatch only over declared dimensions', async () => {
  const { checkWebgpuLayout } = await import('../src/manifest.js');
  const manifest = (dispatch) => ({
    webgpu: { limits: {} }, dims: [{ name: 'seq', min: 1, max: 8 }], steps: [], tensors: [],
    kernels: [{ nargs: 1, webgpu: { file: 'kernels/k0.wgsl', workgroup: [64, 1, 1], dispatch,
      bindings: [{ arg: 0, start: 0, count: 1, write: false }] } }],
  });
  checkWebgpuLayout(manifest({ groups: { sym: [[3, ['seq']]] }, per: 64, times: 1 }));
  checkWebgpuLayout(manifest([1, 1, 1]));
  for (const bad of [{ groups: { sym: [[3, ['other']]] }, per: 64, times: 1 },
    { groups: { sym: [[3, ['seq']]] }, per: 0, times: 1 }, { groups: 'seq', per: 1, times: 1 }, [1, 1]]) {
    assert.throws(() => checkWebgpuLayout(manifest(bad)), /malformed WebGPU workgroup or dispatch/);
  }
});
