"""Single-threaded GFLOP/s of WASM MatMul kernels per schedule config, measured in Node.

    python benchmarks/wasm_matmul.py                      # default shapes, a few configs
    python benchmarks/wasm_matmul.py --shape 128x3072x768 --all   # every config that fits
    python benchmarks/wasm_matmul.py --shape 197x768x3072 --config 4,8,1,96,256 --repeat 3
    python benchmarks/wasm_matmul.py --baseline old_matmul.py --config 4,8,1,0 --repeat 5

Shapes are MxNxK with row-major a [M, K] and bmat [K, N]; bmat rows are padded by 16
floats when their pitch is a multiple of 4 KiB, as the compiler pads constant weights
(--pad sets another padding). A config is mr,nr,ku,nb[,kc[,fma]]. Each kernel's output
is checked against numpy before its time is printed; a wrong kernel prints WRONG instead.
--baseline times an earlier copy of matmul.py's default config beside the current ones.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from webjit.kernels import Access, Arg, MatMul
from webjit.targets import WasmTarget
from webjit.wasm.matmul import FAMILY, emit
from webjit.wasm.matmul_schedule import DEFAULT, MatMulConfig

TARGET = WasmTarget(threads=1, relaxed_simd=True)  # one thread in Node, with relaxed SIMD

# Transformer projections and MLPs (ViT m = 197, GPT-2/BERT/MiniLM at sequence 128), a
# ResNet convolution as a matmul, and small shapes.
SHAPES = ("197x768x3072", "128x768x3072", "128x3072x768", "128x384x1536", "128x1536x384",
          "3136x64x576", "197x768x768", "384x384x384", "1x384x384")
FEW = (DEFAULT, MatMulConfig(1, 8), MatMulConfig(2, 16), MatMulConfig(3, 12), MatMulConfig(4, 4),
       MatMulConfig(6, 4), MatMulConfig(4, 8, 2), MatMulConfig(4, 8, 1, 96), MatMulConfig(6, 8),
       MatMulConfig(4, 8, 1, 0, 256), MatMulConfig(4, 8, fma=True), MatMulConfig(6, 8, fma=True))
ROW_PAD = WasmTarget().row_pad  # floats the compiler adds to constant bmat rows whose pitch is a multiple of 4 KiB

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


def bench_shape(shape: str, kernels: list[tuple[str, bytes]], seconds: float,
                pad: int | None) -> dict[str, float | None]:
    """GFLOP/s of each (label, module bytes) on `shape`, None for a wrong result."""
    m, n, k = map(int, shape.split("x"))
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n + _pad(n, pad)), dtype=np.float32)
    want = a.astype(np.float64) @ b[:, :n]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "inputs.bin").write_bytes(a.tobytes() + b.tobytes())
        base = 256
        addrs = [base, base + a.nbytes, base + a.nbytes + b.nbytes]
        files = []
        for i, (_, wasm) in enumerate(kernels):
            file = tmp / f"k{i}.wasm"
            file.write_bytes(wasm)
            files.append({"name": str(i), "file": str(file)})
        job = {"inputs": str(tmp / "inputs.bin"), "addrs": addrs, "out_bytes": m * n * 4,
               "pages": (addrs[2] + m * n * 4) // 65536 + 1, "kernels": files,
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
            results[kernels[i][0]] = gflops if ok else None
            verdict = f"{gflops:7.2f} GFLOP/s" if ok else "  WRONG"
            print(f"{shape:>14}  {kernels[i][0]:<32} {result['ms']:9.3f} ms {verdict}", flush=True)
        proc.wait()
    return results


def _pad(n: int, pad: int | None) -> int:
    if pad is None:
        return ROW_PAD if n * 4 % 4096 == 0 else 0
    return pad


def _config_text(c: MatMulConfig) -> str:
    return f"mr={c.mr} nr={c.nr} ku={c.ku} nb={c.nb} kc={c.kc}{' fma' if c.fma else ''}"


def _parse_config(text: str) -> MatMulConfig:
    values = tuple(map(int, text.split(",")))
    if len(values) > 5:
        return MatMulConfig(*values[:5], fma=bool(values[5]))
    return MatMulConfig(*values)


def _load_baseline(path: str):
    """An earlier copy of webjit/wasm/matmul.py, imported as a sibling of the current one."""
    spec = importlib.util.spec_from_file_location("webjit.wasm.baseline_matmul", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _kernels(shape: str, opts, baseline) -> list[tuple[str, bytes]]:
    m, n, k = map(int, shape.split("x"))
    spec = matmul_spec(m, n, k, n + _pad(n, opts.pad))
    if opts.config:
        configs = [_parse_config(text) for text in opts.config]
    elif opts.all:
        configs = FAMILY.candidates(spec, TARGET)
    else:
        configs = list(FEW)
    configs = list(dict.fromkeys(FAMILY.resolve(c, spec, TARGET) for c in configs))
    kernels = [(_config_text(c), emit(spec, c).encode()) for c in configs]
    if baseline is not None:  # its default config, timed beside ours in the same process
        kernels.insert(0, ("baseline default", baseline.emit(spec).encode()))  # an older copy's own default
    return kernels


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", action="append", help="MxNxK (repeatable)")
    parser.add_argument("--all", action="store_true", help="every candidate of the pruned space")
    parser.add_argument("--config", action="append", help="mr,nr,ku,nb[,kc[,fma]] (repeatable)")
    parser.add_argument("--pad", type=int, default=None,
                        help="extra floats per bmat row (default: 16 where the pitch is a multiple of 4 KiB)")
    parser.add_argument("--seconds", type=float, default=0.3, help="time per kernel")
    parser.add_argument("--repeat", type=int, default=1, help="rounds over all shapes; prints the best of each")
    parser.add_argument("--baseline", help="an earlier matmul.py whose default config is timed alongside")
    opts = parser.parse_args(argv)
    baseline = _load_baseline(opts.baseline) if opts.baseline else None
    best: dict[tuple[str, str], float | None] = {}
    for _ in range(opts.repeat):
        for shape in opts.shape or SHAPES:
            for label, gflops in bench_shape(shape, _kernels(shape, opts, baseline), opts.seconds, opts.pad).items():
                old = best.get((shape, label), 0.0)
                best[shape, label] = None if gflops is None or old is None else max(old, gflops)
    if opts.repeat > 1:
        print(f"best of {opts.repeat} rounds, GFLOP/s:")
        for (shape, label), gflops in best.items():
            print(f"{shape:>14}  {label:<32} {'WRONG' if gflops is None else f'{gflops:7.2f}'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
