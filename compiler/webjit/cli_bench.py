"""The `webjit bench ...` commands: their argument parsers (added to the CLI's by
add_bench_parsers) and what each runs and prints (docs/benchmarks.md)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from webjit.cli import int_list, parse_backends, parse_seconds, parse_shape, positive_int, shape_options
from webjit.errors import ModelError, RunError


def timing_options(parser, runs: int, timed: str, warmup: float, per: str, output: str, rounds: bool = False) -> None:
    """--threads, --runs, --warmup, --size and -o, as every side-by-side bench takes them."""
    parser.add_argument("--threads", type=int_list, default=(1, 2), metavar="T,T,...", help="WASM thread counts (default 1,2)")
    parser.add_argument("--runs", type=positive_int, default=runs, metavar="N",
                        help=f"timed {timed} per engine (default {runs})")
    parser.add_argument("--warmup", type=parse_seconds, default=warmup, metavar=f"{warmup:g}s",
                        help=f"untimed {'rounds of ' if rounds else ''}{timed} before timing, per {per} "
                             f"(default {warmup:g}s)")
    parser.add_argument("--size", choices=("full", "small"), default="full", help="model size (default full)")
    parser.add_argument("-o", "--output", metavar="DIR", default="benchmarks/results",
                        help=f"folder for {output} (default benchmarks/results)")


def add_bench_parsers(commands) -> None:
    bench = commands.add_parser("bench", help="benchmarks: webjit [MODEL ...] against onnxruntime-web "
                                "(docs/benchmarks.md), compile (its compile cost against TVM) or jit (docs/jit.md)")
    benches = bench.add_subparsers(required=True, metavar="BENCH")
    engines = benches.add_parser("engines", help="webjit and onnxruntime-web side by side in one headless Chromium "
                                                 "(also `webjit bench [MODEL ...]`)")
    engines.add_argument("models", nargs="*", metavar="MODEL",
                         help="test models (docs/models.md) and mobilenetv3 (the zoo's MobileNetV3-large); default all six")
    engines.add_argument("--engines", type=lambda text: tuple(text.split(",")), metavar="webjit-wasm,ort-wasm,...",
                         default=("webjit-wasm", "webjit-webgpu", "ort-wasm", "ort-webgpu"),
                         help="engines to run (default webjit-wasm, webjit-webgpu, ort-wasm, ort-webgpu)")
    timing_options(engines, runs=20, timed="runs", warmup=5.0, per="engine and model",
                   output="the JSON, markdown and PNG results")
    engines.set_defaults(command=bench_engines_command)
    compile_cost = benches.add_parser("compile", help="compile cost: webjit's kernel generation (all kernels, and "
                                      "all tuning candidates) against apache-tvm's webgpu build of the same model")
    compile_cost.add_argument("models", nargs="*", metavar="MODEL",
                              help="bench models (as for `webjit bench`; default all six)")
    compile_cost.add_argument("--size", choices=("full", "small"), default="small", help="model size (default small)")
    compile_cost.add_argument("--no-tvm", action="store_true", help="measure webjit only, even where TVM is installed")
    compile_cost.add_argument("--tvm-timeout", type=parse_seconds, default=1800.0, metavar="1800s",
                              help="the most one TVM build may take (default 1800s)")
    compile_cost.add_argument("-o", "--output", metavar="DIR", default="benchmarks/results",
                              help="folder for the JSON and markdown results (default benchmarks/results)")
    compile_cost.set_defaults(command=bench_compile_command)
    in_page = benches.add_parser("browser-compile", help="the compiler in the page (Pyodide in Chromium and in Node) "
                                 "against CPython, with and without numpy, on the same models (docs/in-browser-compiler.md)")
    in_page.add_argument("models", nargs="*", metavar="MODEL", help="bench models (default minilm resnet50)")
    in_page.add_argument("--size", choices=("full", "small"), default="full", help="model size (default full)")
    in_page.add_argument("-o", "--output", metavar="DIR", default="benchmarks/results",
                         help="folder for browser-compile-SIZE.json and .md (default benchmarks/results)")
    in_page.set_defaults(command=bench_browser_compile_command)
    lengths = benches.add_parser("lengths", help="one bundle for sequences 1..N against the fixed-length bundle "
                                                 "(padded) and onnxruntime-web at each length (docs/benchmarks.md)")
    lengths.add_argument("model", nargs="?", default="minilm", help="a text model: minilm, bert or gpt2 (default minilm)")
    lengths.add_argument("--lengths", type=int_list, default=(8, 32, 128), metavar="L,L,...",
                         help="sequence lengths to time (default 8,32,128); the fixed bundle is compiled for the longest")
    lengths.add_argument("--max-length", type=positive_int, default=512, metavar="N",
                         help="the symbolic bundle's range is 1..N (default 512)")
    timing_options(lengths, runs=20, timed="runs", warmup=3.0, per="engine and length",
                   output="bench-lengths-MODEL.json and .md")
    lengths.set_defaults(command=bench_lengths_command)
    generate = benches.add_parser("generate", help="GPT-2 text generation with a KV cache: prompt tokens/s and decode "
                                                   "ms/token against onnxruntime-web (docs/benchmarks.md)")
    generate.add_argument("--contexts", type=int_list, default=(128, 512), metavar="C,C,...",
                          help="contexts at which decode is timed (default 128,512); the bundle is compiled for the "
                               "longest")
    generate.add_argument("--decode-steps", type=positive_int, default=8, metavar="N",
                          help="one-token steps timed per context, ending at it (default 8)")
    generate.add_argument("--backends", type=parse_backends, default=("wasm", "webgpu"), metavar="B,B",
                          help="wasm, webgpu or both (default both; WebGPU here is SwiftShader, a software GPU)")
    timing_options(generate, runs=5, timed="generations", warmup=10.0, per="context", rounds=True,
                   output="bench-generate-SIZE.json and .md")
    generate.set_defaults(command=bench_generate_command)
    jit = benches.add_parser("jit", help="the JIT in headless Chromium against its first runs and the "
                                         "offline-tuned bundle, side by side in one session")
    jit.add_argument("model", metavar="MODEL.onnx", help="the ONNX model file")
    jit.add_argument("--shape", action="append", default=[], type=parse_shape, metavar="NAME=1x128",
                     help="static shape of an input, as for compile (repeatable)")
    jit.add_argument("--backend", choices=("wasm", "webgpu"), default="wasm", help="where the kernels run (default wasm)")
    jit.add_argument("--budget", type=parse_seconds, default=30.0, metavar="30s",
                     help="the JIT's tuning budget, and webjit tune's for the comparison (default 30s)")
    jit.add_argument("--seconds", type=parse_seconds, default=45.0, metavar="45s",
                     help="how long the page runs the model back to back while it tunes (default 45s)")
    jit.add_argument("-o", "--output", metavar="DIR", default=None,
                     help="write JSON, text and the time-to-fast chart (PNG) here")
    jit.set_defaults(command=bench_jit_command)


def bench_engines_command(args: argparse.Namespace) -> int:
    from webjit.engine_bench import BENCH_MODELS, bench
    unknown = [m for m in args.models if m not in BENCH_MODELS]
    if unknown:
        raise RunError(f"unknown model {', '.join(unknown)}; choose from {', '.join(BENCH_MODELS)}")
    report = lambda line: print(line, flush=True)
    bench(tuple(args.models) or BENCH_MODELS, args.engines, args.threads, args.runs, args.warmup, args.size,
          args.output, report)
    print(f"results in {args.output}/bench-{args.size}-chromium.{{json,md}} and -wasm.png / -webgpu.png / -roofline.png")
    return 0


def bench_compile_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from webjit.compile_bench import compile_cost, compile_table, write_compile_results
    from webjit.engine_bench import BENCH_MODELS
    unknown = [m for m in args.models if m not in BENCH_MODELS]
    if unknown:
        raise RunError(f"unknown model {', '.join(unknown)}; choose from {', '.join(BENCH_MODELS)}")
    results = compile_cost(tuple(args.models) or BENCH_MODELS, args.size, False if args.no_tvm else None,
                           args.tvm_timeout, lambda line: print(line, flush=True))
    stem = write_compile_results(results, Path(args.output))
    print(compile_table(results), end="")
    print(f"results in {stem}.{{json,md}}")
    return 0


def bench_browser_compile_command(args: argparse.Namespace) -> int:
    from webjit.browser_bench import bench_browser_compile, browser_compile_table, write_browser_compile_results
    from webjit.engine_bench import BENCH_MODELS
    unknown = [m for m in args.models if m not in BENCH_MODELS]
    if unknown:
        raise RunError(f"unknown model {', '.join(unknown)}; choose from {', '.join(BENCH_MODELS)}")
    results = bench_browser_compile(tuple(args.models) or ("minilm", "resnet50"), args.size,
                                    lambda line: print(line, flush=True))
    stem = write_browser_compile_results(results, Path(args.output))
    print(browser_compile_table(results), end="")
    print(f"results in {stem}.{{json,md}}")
    return 0


def bench_lengths_command(args: argparse.Namespace) -> int:
    from webjit.length_bench import bench_lengths, length_table
    results = bench_lengths(args.model, args.lengths, args.threads, args.runs, args.warmup, args.size,
                            args.max_length, args.output)
    print(length_table(results))
    print(f"results in {args.output}/bench-lengths-{args.model}.{{json,md}}")
    return 0


def bench_generate_command(args: argparse.Namespace) -> int:
    from webjit.generate_bench import bench_generate, generate_table
    results = bench_generate(args.contexts, args.threads, args.runs, args.warmup, args.size, args.decode_steps,
                             args.output, backends=args.backends)
    print(generate_table(results))
    print(f"results in {args.output}/bench-generate-{args.size}.{{json,md}}")
    return 0


def bench_jit_command(args: argparse.Namespace) -> int:
    from webjit.jit_bench import bench_jit, report_text

    model = Path(args.model)
    if not model.is_file():
        raise ModelError(f"model file {model} does not exist")
    started = time.perf_counter()

    def progress(line: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {line}", file=sys.stderr, flush=True)

    result = bench_jit(model, shape_options(args.shape) or None, backend=args.backend, budget_s=args.budget,
                       seconds=args.seconds, out_dir=args.output, progress=progress)
    print(report_text(result))
    return 0
