"""Single-threaded GFLOP/s of WASM MatMul kernels per schedule config, measured in Node.

    python benchmarks/wasm_matmul.py                      # default shapes, a few configs
    python benchmarks/wasm_matmul.py --shape 128x3072x768 --all   # every config that fits
    python benchmarks/wasm_matmul.py --shape 197x768x3072 --config 4,8,1,96,256 --repeat 3

Shapes are MxNxK with row-major a [M, K] and bmat [K, N]; bmat rows are padded by 16
floats when their pitch is a multiple of 4 KiB, as the compiler pads constant weights
(--pad sets another padding). A config is mr,nr,ku,nb[,kc[,fma]]. Each kernel's output is checked
against numpy before its time is printed; a wrong kernel prints WRONG instead.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from webjit.kernels import Access, Arg, MatMul
from webjit.wasm.matmul import DEFAULT, SPACE, MatMulConfig, emit, fits

# Transformer projections and MLPs (ViT m = 197, GPT-2/BERT/MiniLM at sequence 128), a
# ResNet convolution as a matmul, and small shapes.
SHAPES = ("197x768x3072", "128x768x3072", "128x3072x768", "128x384x1536", "128x1536x384",
          "3136x64x576", "197x768x768", "384x384x384", "1x384x384")
FEW = (DEFAULT, MatMulConfig(1, 8), MatMulConfig(2, 16), MatMulConfig(3, 12), MatMulConfig(4, 4),
       MatMulConfig(6, 4), MatMulConfig(4, 8, 2), MatMulConfig(4, 8, 1, 96), MatMulConfig(6, 8),
       MatMulConfig(4, 8, 1, 0, 256), MatMulConfig(4, 8, fma=True), MatMulConfig(6, 8, fma=True))
ROW_PAD = 16  # floats the compiler adds to constant bmat rows whose pitch is a multiple of 4 KiB

# Times each module in one Node process for about `seconds`.
NODE_TIMER = r"""
const fs = require('fs');
const job = JSON.parse(fs.readFileSync(process.argv[2]));
const memory = new WebAssembly.Memory({initial: job.pages, maximum: 65536, shared: true});
const bytes = new Uint8Array(memory.buffer);
bytes.set(fs.readFileSync(job.inputs), job.addrs[0]);
for (const kernel of job.kernels) {
  const module = new WebAssembly.Module(fs.readFileSync(kernel.file));
  const run = new WebAssembly.Instance(module, {env: {memory}}).exports.run;
  run(...job.addrs, 0, 1);
  const out = bytes.slice(job.addrs[2], job.addrs[2] + job.out_bytes);
  fs.writeFileSync(kernel.file + '.out', out);
  // The best of several short batches: the machine is shared, and noise only adds time.
  let best = Infinity;
  const start = performance.now();
  while (performance.now() - start < job.seconds * 1000) {
    let reps = 0, t0 = performance.now(), t = t0;
    while (t - t0 < job.seconds * 100 || reps < 1) { run(...job.addrs, 0, 1); reps++; t = performance.now(); }
    best = Math.min(best, (t - t0) / reps);
  }
  console.log(JSON.stringify({name: kernel.name, ms: best}));
}
"""


def matmul_spec(m: int, n: int, k: int, pitch: int = 0) -> MatMul:
    pitch = pitch or n
    args = (Arg("f32", m * k), Arg("f32", k * pitch), Arg("f32", m * n, output=True))
    return MatMul(batch=(), m=m, n=n, k=k, a=Access(0, (k, 1)), bmat=Access(1, (pitch, 1)),
                  out=Access(2, (n, 1)), extras=(), epilogue=None, args=args)


def bench_shape(shape: str, configs, seconds: float, pad: int | None) -> None:
    m, n, k = map(int, shape.split("x"))
    if pad is None:
        pad = ROW_PAD if n * 4 % 4096 == 0 else 0
    spec = matmul_spec(m, n, k, n + pad)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n + pad), dtype=np.float32)
    want = a.astype(np.float64) @ b[:, :n]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "inputs.bin").write_bytes(a.tobytes() + b.tobytes())
        base = 256
        addrs = [base, base + a.nbytes, base + a.nbytes + b.nbytes]
        kernels = []
        for i, config in enumerate(configs):
            file = tmp / f"k{i}.wasm"
            file.write_bytes(emit(spec, config).encode())
            kernels.append({"name": str(i), "file": str(file)})
        job = {"inputs": str(tmp / "inputs.bin"), "addrs": addrs, "out_bytes": m * n * 4,
               "pages": (addrs[2] + m * n * 4) // 65536 + 1, "kernels": kernels,
               "seconds": seconds}
        (tmp / "job.json").write_text(json.dumps(job))
        (tmp / "timer.js").write_text(NODE_TIMER)
        proc = subprocess.Popen(["node", "--experimental-wasm-relaxed-simd", str(tmp / "timer.js"), str(tmp / "job.json")],
                                stdout=subprocess.PIPE, text=True)
        scale = np.abs(want).max()
        for line in proc.stdout:
            result = json.loads(line)
            i = int(result["name"])
            got = np.frombuffer((tmp / f"k{i}.wasm.out").read_bytes(), np.float32).reshape(m, n)
            ok = np.abs(got - want).max() <= 1e-4 * scale
            gflops = 2 * m * n * k / result["ms"] / 1e6
            verdict = f"{gflops:7.2f} GFLOP/s" if ok else "  WRONG"
            print(f"{shape:>14}  {_config_text(configs[i]):<24} {result['ms']:9.3f} ms {verdict}",
                  flush=True)
        proc.wait()


def _config_text(c: MatMulConfig) -> str:
    return f"mr={c.mr} nr={c.nr} ku={c.ku} nb={c.nb} kc={c.kc}{' fma' if c.fma else ''}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", action="append", help="MxNxK (repeatable)")
    parser.add_argument("--all", action="store_true", help="every config in SPACE that fits")
    parser.add_argument("--config", action="append", help="mr,nr,ku,nb[,kc[,fma]] (repeatable)")
    parser.add_argument("--pad", type=int, default=None,
                        help="extra floats per bmat row (default: 16 where the pitch is a multiple of 4 KiB)")
    parser.add_argument("--seconds", type=float, default=0.3, help="time per kernel")
    parser.add_argument("--repeat", type=int, default=1, help="rounds over all shapes (compare the best)")
    opts = parser.parse_args(argv)
    for _ in range(opts.repeat):
        for shape in opts.shape or SHAPES:
            m, n, k = map(int, shape.split("x"))
            spec = matmul_spec(m, n, k)
            configs = [c for c in SPACE if fits(c, spec)] if opts.all else list(FEW)
            if opts.config:
                configs = [MatMulConfig(*c[:5], fma=bool(c[5])) if len(c) > 5 else MatMulConfig(*c)
                           for c in (tuple(map(int, text.split(","))) for text in opts.config)]
            bench_shape(shape, configs, opts.seconds, opts.pad)
    return 0


if __name__ == "__main__":
    sys.exit(main())
