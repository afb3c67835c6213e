"""The WASM SIMD peak of the machine, measured in the browser that runs the kernels: a
register-only f32x4 loop of multiply-adds (mul then add, or relaxed-SIMD fused
multiply-add), with enough independent accumulators to hide the latency of each. No
memory is touched inside the loop, so what it measures is the arithmetic peak a MatMul
kernel's inner loop can at best reach (`webjit bench` reports kernels as fractions of it).
"""
from __future__ import annotations

from .wasm.encoder import I32, V128, Module, f32x4_const

ACCUMULATORS = 14  # independent chains to hide mul+add latency; 14 measured best here (V8 keeps 15 xmm registers)
UNROLL = 4  # passes over the accumulators per loop iteration
FLOPS_PER_ITERATION = ACCUMULATORS * UNROLL * 4 * 2  # lanes x (multiply + add)


def roofline_module(fma: bool, accumulators: int = ACCUMULATORS) -> bytes:
    """run(iterations, out): ACCUMULATORS x UNROLL f32x4 multiply-adds per iteration, then
    the accumulators' sum stored at `out` (so no engine can drop the loop)."""
    module = Module(shared_memory=True)
    f = module.func("run", [I32, I32])
    accs = [f.local(V128) for _ in range(accumulators)]
    scale, shift = f.local(V128), f.local(V128)
    for i, acc in enumerate(accs):
        f.op("v128.const", f32x4_const(0.001 * (i + 1)))
        f.op("local.set", acc)
    f.op("v128.const", f32x4_const(0.9999999))
    f.op("local.set", scale)
    f.op("v128.const", f32x4_const(1e-7))
    f.op("local.set", shift)
    f.op("block")
    f.op("loop")
    f.op("local.get", 0)
    f.op("i32.eqz")
    f.op("br_if", 1)
    for _ in range(UNROLL):
        for acc in accs:
            f.op("local.get", acc)
            f.op("local.get", scale)
            if fma:
                f.op("local.get", shift)
                f.op("f32x4.relaxed_madd")
            else:
                f.op("f32x4.mul")
                f.op("local.get", shift)
                f.op("f32x4.add")
            f.op("local.set", acc)
    f.op("local.get", 0)
    f.op("i32.const", 1)
    f.op("i32.sub")
    f.op("local.set", 0)
    f.op("br", 0)
    f.op("end")
    f.op("end")
    f.op("local.get", 1)
    f.op("local.get", accs[0])
    for acc in accs[1:]:
        f.op("local.get", acc)
        f.op("f32x4.add")
    f.op("v128.store", 0)
    return module.encode()


# --- WebGPU ----------------------------------------------------------------------------------
GPU_ACCUMULATORS = 8  # independent vec4 chains per invocation (registers only)
GPU_UNROLL = 8  # passes over the accumulators per loop iteration
GPU_WORKGROUP = 64
GPU_WORKGROUPS = 4096  # 262144 invocations: enough to fill any adapter's cores
GPU_FLOPS_PER_ITERATION = GPU_ACCUMULATORS * GPU_UNROLL * 4 * 2  # per invocation: lanes x (multiply + add)


def webgpu_roofline_shader(accumulators: int = GPU_ACCUMULATORS, unroll: int = GPU_UNROLL,
                           workgroup: int = GPU_WORKGROUP) -> str:
    """WGSL: every invocation runs `iterations` (a uniform, so no compiler can fold the loop)
    x accumulators x unroll vec4 fma()s on registers, then stores its accumulators' sum once."""
    init = "\n".join(f"  var a{i} = vec4<f32>(seed + {0.001 * (i + 1):.4f});" for i in range(accumulators))
    body = "\n".join(f"    a{i} = fma(a{i}, s, t);" for _ in range(unroll) for i in range(accumulators))
    total = " + ".join(f"a{i}" for i in range(accumulators))
    return f"""struct Params {{ iterations: u32, scale: f32, shift: f32, pad: f32 }}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size({workgroup})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {{
  let seed = f32(id.x) * 1e-7;
  let s = vec4<f32>(params.scale);
  let t = vec4<f32>(params.shift);
{init}
  for (var i = 0u; i < params.iterations; i = i + 1u) {{
{body}
  }}
  out[id.x] = {total};
}}
"""
