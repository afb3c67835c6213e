"""The `webjit` command line (what it prints: cli_report.py): compile, run (and check against
onnxruntime, or profile), serve, tune, bench (cli_bench.py), and the schedule database
(schedules list / merge).

Errors a user can cause print as `webjit: error: <one sentence>` and exit with status 2;
a --check that finds outputs beyond the tolerance exits with status 1.
"""
from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from webjit.bundle import SHARD_BYTES, size_text
from webjit.cli_report import (describe_array, describe_run, first_line, print_check, print_progress,
                               print_summary, run_onnxruntime, save_outputs)
from webjit import __version__
from webjit.errors import ModelError, RunError, ShapeError, WebjitError
from webjit.shapes import CLI as CLI_WORDS

BENCHES = ("engines", "compile", "browser-compile", "lengths", "generate", "jit")  # `webjit bench NAME`; any other word is a model
SHAPE_SYNTAX = re.compile(r"^(?P<name>.+)=(?P<dims>\d+(x\d+)*)$")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `webjit` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"] and argv[1:2] not in [[b] for b in BENCHES + ("-h", "--help")]:
        argv.insert(1, "engines")  # `webjit bench [MODEL ...]` is the engines comparison
    args = build_parser().parse_args(argv)
    try:
        return args.command(args)
    except WebjitError as err:
        return fail(str(err))
    except FileNotFoundError as err:
        return fail(f"{err.filename or err} does not exist")
    except KeyboardInterrupt:
        return fail("interrupted")
    except Exception as err:  # noqa: BLE001
        if is_onnx_load_error(err):
            return fail(f"the model could not be loaded as ONNX ({first_line(err)})")
        raise


def build_parser() -> argparse.ArgumentParser:
    from webjit.cli_bench import add_bench_parsers  # it uses this module's argument parsers
    parser = argparse.ArgumentParser(prog="webjit", description="Compile ONNX models to web "
                                     "bundles and run them on WebAssembly and WebGPU.")
    parser.add_argument("--version", action="version", version=f"webjit {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    compile_ = commands.add_parser("compile", help="compile an ONNX model into a bundle")
    compile_.add_argument("model", metavar="MODEL.onnx", help="the ONNX model file")
    compile_.add_argument("--shape", action="append", default=[], type=parse_shape,
                          metavar="NAME=1x128", help="static shape of an input (repeatable)")
    compile_.add_argument("--dim", action="append", default=[], type=parse_dim, metavar="NAME=N",
                          help="size of a named dynamic dimension, for every input that declares it "
                               "(repeatable; e.g. --dim batch=1 --dim sequence=128)")
    compile_.add_argument("-o", "--output", metavar="BUNDLE",
                          help="bundle folder to write (default: MODEL.webjit next to the model)")
    compile_.add_argument("--dump", metavar="DIR", help="write every stage's text to DIR")
    compile_.add_argument("--backends", type=parse_backends, default=None, metavar="wasm,webgpu",
                          help="kernels to emit (default: every backend)")
    compile_.add_argument("--limit", action="append", default=[], type=parse_limit, metavar="NAME=VALUE",
                          help="a WebGPU device limit the kernels must respect, below WebGPU's defaults "
                               f"(repeatable; NAME is one of {', '.join(LIMIT_NAMES)}; VALUE may end in KiB or MiB)")
    compile_.add_argument("--schedules", action="append", default=[], metavar="DIR",
                          help="a schedule database whose records become per-device kernel variants "
                               "(repeatable; the records shipped in schedules/ are read unless --no-schedules)")
    compile_.add_argument("--no-schedules", action="store_true", help="use no schedule records at all")
    compile_.add_argument("--jit", action="store_true",
                          help="add the hot kernels' schedule candidates, which the runtime measures on the "
                               "client when a page loads the bundle with tune: 'background' (docs/jit.md)")
    compile_.add_argument("--weights", choices=("fp32", "fp16", "int8"), default="fp32",
                          help="how the bundle stores weights: exact (fp32), as float16, or int8 with a scale per "
                               "output channel for MatMul/Conv weights (float16 for the rest); the runtime widens "
                               "them to f32 at load, so only the download shrinks (docs/bundle.md)")
    compile_.add_argument("--no-deflate", action="store_true",
                          help="store weights without lossless compression (larger download, faster load)")
    compile_.add_argument("--fuse-attention", action="store_true",
                          help="run each attention chain (QK^T, scale, mask, softmax, V) as one kernel: less memory, "
                               "slower at short sequences on WASM (docs/performance.md)")
    compile_.add_argument("--shard-mib", type=positive_int, default=SHARD_BYTES >> 20, metavar="N",
                          help=f"the largest weight file, in MiB (default {SHARD_BYTES >> 20}; "
                               "some static hosts limit file sizes)")
    compile_.add_argument("--const", action="append", default=[], type=parse_const, metavar="NAME=VALUE",
                          help="bind input NAME to a value folded into the model: numbers separated by commas "
                               "(1,128 is a 1-d tensor of two; one number is a scalar, or fills an input of one "
                               "element) or an .npy file; for inputs that decide shapes, such as a Reshape's "
                               "target, or a merged decoder's use_cache_branch=1 (repeatable)")
    compile_.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    compile_.set_defaults(command=compile_command)

    run = commands.add_parser("run", help="run a bundle in headless Chromium or Node")
    run.add_argument("bundle", metavar="BUNDLE", help="a bundle folder written by webjit compile")
    add_input_options(run)
    add_runtime_options(run, default_backend="wasm")
    run.add_argument("--dim", action="append", default=[], type=parse_dim, metavar="NAME=N",
                     help="size of a symbolic dimension of the bundle for this run (repeatable; e.g. --dim seq=7), "
                          "when no --input gives it")
    run.add_argument("--repeat", type=positive_int, default=1, metavar="N",
                     help="after one warm-up run, run N times and report the median latency")
    run.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS",
                     help="give up when the run has no result after this long (default 300)")
    run.add_argument("--check", metavar="MODEL.onnx",
                     help="compare the outputs with onnxruntime on the same inputs")
    run.add_argument("--tol", type=float, default=1e-4,
                     help="largest allowed error relative to each output's max magnitude")
    run.add_argument("--save-outputs", metavar="DIR", help="save each output as DIR/NAME.npy (characters other than letters, digits, _ and - "
                          "written ~HH)")
    run.add_argument("--profile", action="store_true",
                     help="print the time of every kernel (calls, total, mean, share, GFLOP/s)")
    run.set_defaults(command=run_command)

    tune = commands.add_parser("tune", help="tune a model's hottest kernels on this device and keep the winners")
    tune.add_argument("model", metavar="MODEL_OR_BUNDLE", help="an .onnx model (compiled with --shape) or a bundle")
    tune.add_argument("--shape", action="append", default=[], type=parse_shape, metavar="NAME=1x128",
                      help="static shape of an input, as for compile (repeatable)")
    tune.add_argument("--dim", action="append", default=[], type=parse_dim, metavar="NAME=N",
                      help="size of a named dynamic dimension, as for compile (repeatable)")
    add_runtime_options(tune, default_backend="wasm", backends=("wasm", "webgpu"))
    tune.add_argument("--budget", type=parse_seconds, default=30.0, metavar="30s",
                      help="time for profiling and measuring candidates (default 30s)")
    tune.add_argument("--db", metavar="DIR", default=None,
                      help="schedule database to add the records to (default: schedules/ of the checkout)")
    tune.add_argument("--no-compare", action="store_true",
                      help="skip the whole-model run of the default against the tuned bundle")
    tune.set_defaults(command=tune_command)

    add_bench_parsers(commands)

    schedules = commands.add_parser("schedules", help="list or merge schedule databases")
    actions = schedules.add_subparsers(required=True, metavar="ACTION")
    list_ = actions.add_parser("list", help="print the records of schedule databases")
    list_.add_argument("folders", nargs="*", metavar="DIR", help="databases (default: schedules/ of the checkout)")
    list_.set_defaults(command=schedules_list_command)
    merge = actions.add_parser("merge", help="merge databases, and record files a page's JIT exported, into one "
                                             "(per kernel and device, the better record)")
    merge.add_argument("folders", nargs="+", metavar="DIR|FILE.json",
                       help="schedule databases and record files exported by a page's JIT")
    merge.add_argument("-o", "--output", metavar="DIR",
                       help="the database to add them to (default: schedules/ of the checkout)")
    merge.set_defaults(command=schedules_merge_command)

    fuzz = commands.add_parser("fuzz", help="compile and run random ONNX graphs against onnxruntime "
                                            "(docs/reliability.md)")
    fuzz.add_argument("--count", type=positive_int, default=500, metavar="N", help="graphs to try (default 500)")
    fuzz.add_argument("--seed", type=int, default=1, metavar="S", help="the run's seed: S and an index name a graph "
                                                                       "(default 1)")
    fuzz.add_argument("--start", type=int, default=0, metavar="I", help="first graph index (default 0)")
    fuzz.add_argument("--backend", choices=("wasm", "webgpu"), default="wasm",
                      help="the backend the bundles run on, in Node (default wasm)")
    fuzz.add_argument("--jobs", type=positive_int, default=1, metavar="J", help="parallel processes (default 1)")
    fuzz.add_argument("--cases", metavar="DIR", default=None,
                      help="where minimised findings are saved as regression cases (default: tests/fuzz_cases of "
                           "the checkout, which the test suite runs; ./fuzz-cases outside one)")
    fuzz.add_argument("-o", "--output", metavar="FILE.json", help="write the report as JSON")
    fuzz.set_defaults(command=fuzz_command)

    conformance = commands.add_parser("conformance", help="ONNX's backend node cases through webjit and "
                                                          "onnxruntime (docs/conformance.md)")
    conformance.add_argument("--backend", choices=("wasm", "webgpu"), default="wasm",
                             help="the backend the bundles run on, in Node (default wasm)")
    conformance.add_argument("-o", "--output", metavar="FILE.md", help="write the report (e.g. docs/conformance.md)")
    conformance.add_argument("--per-op", type=positive_int, default=None, metavar="N",
                             help="run only the first N cases of each op (a representative sample: WebGPU on "
                                  "SwiftShader compiles every kernel slowly)")
    conformance.set_defaults(command=conformance_command)

    serve = commands.add_parser("serve", help="serve a bundle with the runtime's run page, or a folder of your own, "
                                              "with the headers WASM threads need")
    serve.add_argument("bundle", metavar="BUNDLE_OR_DIR",
                       help="a bundle (opens the runtime's run page on it) or any folder, served at / with the JS "
                            "runtime at /webjit/ (import '/webjit/src/index.js')")
    add_input_options(serve)
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1; 0.0.0.0 serves other machines too)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000; 0 picks a free one)")
    serve.add_argument("--backend", choices=("wasm", "webgpu", "auto"), default="auto",
                       help="the run page's backend (default auto: WebGPU when the browser has it)")
    serve.add_argument("--threads", type=parse_threads, default="auto", metavar="auto|N",
                       help="the run page's WASM threads (default auto: as many as the page may use)")
    serve.add_argument("--verbose", action="store_true", help="print one line per request")
    serve.add_argument("--page", metavar="DIR", help="serve this page folder at /page/ and open it (e.g. "
                                                      "examples/similarity) instead of the runtime's run page")
    serve.add_argument("--mount", action="append", default=[], type=parse_mount, metavar="/PREFIX/=DIR",
                       help="also serve DIR at /PREFIX/ (repeatable), e.g. a page's tokenizer files")
    serve.set_defaults(command=serve_command)
    return parser


def add_runtime_options(parser: argparse.ArgumentParser, default_backend: str,
                        backends: tuple[str, ...] = ("wasm", "webgpu", "auto")) -> None:
    parser.add_argument("--backend", choices=backends, default=default_backend,
                        help=f"where the kernels run (default {default_backend}"
                             + ("; auto: WebGPU when there is an adapter, else WASM)" if "auto" in backends else ")"))
    parser.add_argument("--browser", choices=("chromium", "node"), default="chromium",
                        help="headless Chromium (default; needs the playwright package, pip install 'webjit[browser]') "
                             "or Node.js on PATH")
    parser.add_argument("--chromium", metavar="PATH", default=None,
                        help="the Chromium executable (default: chromium, chromium-browser or google-chrome on PATH, "
                             "else /usr/bin/chromium)")
    parser.add_argument("--threads", type=parse_threads, default="auto", metavar="auto|N",
                        help="WASM threads (default auto: as many as the runtime may use here)")


def add_input_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy",
                        help="an input array (repeatable); missing inputs are generated")
    parser.add_argument("--seed", type=int, default=0, help="seed for generated inputs")


def parse_shape(text: str) -> tuple[str, tuple[int, ...]]:
    match = SHAPE_SYNTAX.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} must look like NAME=1x128 "
                                         "(dimensions separated by x)")
    dims = tuple(int(d) for d in match["dims"].split("x"))
    if 0 in dims:
        raise argparse.ArgumentTypeError(f"{text!r} has a zero dimension; "
                                         "every dimension must be at least 1")
    return match["name"], dims


def parse_dim(text: str) -> tuple[str, int]:
    name, sep, size = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=N (e.g. sequence=128)")
    if ".." in size:
        lo, _, hi = size.partition("..")
        if not (lo.isdigit() and hi.isdigit()) or int(lo) > int(hi):
            raise argparse.ArgumentTypeError(f"{text!r}: a range of sizes is LO..HI with whole numbers LO <= HI "
                                             "(e.g. seq=1..512)")
        return name, (int(lo), int(hi))
    if not size.isdigit() and re.fullmatch(r"[\w.*+ ]+", size):
        return name, size  # a sum of products of other dimensions (total=past+seq), resolved in shapes.py
    if not size.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: the size is a whole number of 0 or more, a range LO..HI, "
                                         "or a sum of other dimensions (total=past+seq)")
    return name, int(size)


def dim_options(pairs) -> dict[str, int]:
    dims = {}
    for name, size in pairs:
        if name in dims and dims[name] != size:
            raise ShapeError(f"--dim gives dimension {name!r} twice ({dims[name]} and {size})")
        dims[name] = size
    return dims


def parse_mount(text: str) -> tuple[str, str]:
    prefix, sep, folder = text.partition("=")
    if not sep or not prefix.startswith("/") or not folder:
        raise argparse.ArgumentTypeError(f"{text!r} must look like /PREFIX/=DIR")
    prefix = prefix if prefix.endswith("/") else prefix + "/"
    if prefix in ("/runtime/", "/bundle/", "/inputs/", "/page/"):
        raise argparse.ArgumentTypeError(f"{prefix} is webjit serve's own; choose another prefix")
    return prefix, folder


def parse_threads(text: str) -> int | str:
    return "auto" if text == "auto" else positive_int(text)


LIMIT_NAMES = {"invocations": "max_invocations", "workgroup-storage": "max_workgroup_storage",
               "binding": "max_binding_bytes", "workgroups-per-dim": "max_workgroups_per_dim",
               "storage-buffers": "max_storage_buffers"}


def parse_limit(text: str) -> tuple[str, int]:
    name, sep, value = text.partition("=")
    if not sep or name not in LIMIT_NAMES:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE with NAME one of {', '.join(LIMIT_NAMES)}")
    scale = 1
    for suffix, factor in (("KiB", 1024), ("MiB", 1024 * 1024)):
        if value.endswith(suffix):
            value, scale = value[: -len(suffix)], factor
    return LIMIT_NAMES[name], positive_int(value) * scale


def parse_backends(text: str) -> tuple[str, ...]:
    from webjit.pipeline import BACKENDS
    names = tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    if not names or any(n not in BACKENDS for n in names):
        raise argparse.ArgumentTypeError(f"{text!r} must list backends among {', '.join(BACKENDS)}")
    return names


def parse_seconds(text: str) -> float:
    value = text[:-1] if text.endswith("s") else text
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a time in seconds such as 30s")
    return seconds


def parse_const(text: str) -> tuple[str, object]:
    """NAME=1,2,3 (a 1-d tensor), NAME=7 (a scalar) or NAME=values.npy; read in compile."""
    import numpy as np
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"{text!r} must look like NAME=1,128 or NAME=value.npy")
    if value.endswith(".npy"):
        return name, Path(value)
    try:
        numbers = [float(v) for v in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} must give numbers separated by commas, or an .npy file") from None
    array = np.array(numbers if "," in value else numbers[0])
    return name, array.astype(np.int64) if np.all(array == np.round(array)) and "." not in value else array


def const_options(pairs) -> dict:
    import numpy as np
    values = {}
    for name, value in pairs:
        if name in values:
            raise ShapeError(f"--const gives input {name!r} twice")
        if isinstance(value, Path):
            if not value.is_file():
                raise ModelError(f"--const file {value} does not exist")
            try:
                value = np.load(value, allow_pickle=False)
            except ValueError as exc:
                raise ModelError(f"--const file {value} is not a readable .npy file ({exc})") from None
        values[name] = value
    return values


def int_list(text: str) -> tuple[int, ...]:
    """'8,32,128' -> (8, 32, 128)."""
    try:
        values = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole numbers") from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: every number must be at least 1")
    return values


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a whole number of at least 1")
    return int(text)


def compile_command(args: argparse.Namespace) -> int:
    model = Path(args.model)
    if not model.is_file():
        raise ModelError(f"model file {model} does not exist")
    from webjit.pipeline import Options, compile as compile_model

    from webjit.schedule_db import SHIPPED, ScheduleDB

    shapes = shape_options(args.shape)
    output = Path(args.output) if args.output else model.with_suffix(".webjit")
    progress = None if args.quiet else print_progress
    folders = [] if args.no_schedules else [SHIPPED, *args.schedules]
    for folder in args.schedules:
        if not Path(folder).is_dir():
            raise RunError(f"schedule database {folder} is not a folder")
    options = Options(dump_dir=args.dump, progress=progress, schedules=ScheduleDB.load(*folders), jit=args.jit,
                      weights=args.weights, deflate=not args.no_deflate, shard_bytes=args.shard_mib << 20,
                      constants=const_options(args.const), words=CLI_WORDS, fuse_attention=args.fuse_attention)
    if args.backends:
        options = dataclasses.replace(options, backends=args.backends)
    if args.limit:
        options = options.with_limits(dataclasses.replace(options.limits, **dict(args.limit)))
    bundle = compile_model(model, shapes or None, options, dim_options(args.dim))
    bundle.save(output)
    print_summary(bundle.manifest, output)
    print(size_text(bundle.sizes(), model.stat().st_size), end="")
    return 0


def shape_options(pairs) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for name, dims in pairs:
        if name in shapes:
            raise ShapeError(f"--shape gives input {name!r} twice")
        shapes[name] = dims
    return shapes


def run_command(args: argparse.Namespace) -> int:
    from webjit.bundle import read_manifest
    from webjit.feeds import load_npy_inputs, make_inputs
    from webjit.runner import run_bundle

    manifest = read_manifest(args.bundle)
    sizes = dim_options(args.dim)
    ranges = [name for name, size in sizes.items() if isinstance(size, tuple)]
    if ranges:
        raise RunError(f"--dim {ranges[0]} gives a range; a run takes one size per dimension")
    feeds = make_inputs(manifest, load_npy_inputs(args.input), seed=args.seed, dims=sizes)
    if args.check and not Path(args.check).is_file():
        raise RunError(f"reference model {args.check} for --check does not exist")
    if args.profile:
        return profile_command(args, feeds)
    result = run_bundle(args.bundle, feeds, backend=args.backend, browser=args.browser,
                        threads=args.threads, repeat=args.repeat, timeout_s=args.timeout, chromium=args.chromium)
    for name, array in result.outputs.items():
        print(describe_array(name, array))
    print(describe_run(result, args.browser))
    if args.save_outputs:
        save_outputs(Path(args.save_outputs), result.outputs)
    if args.check:
        reference = run_onnxruntime(args.check, feeds, list(result.outputs))
        return 0 if print_check(result.outputs, reference, args.tol) else 1
    return 0


def profile_command(args: argparse.Namespace, feeds: dict) -> int:
    from webjit.profile import profile_bundle, profile_text
    profile = profile_bundle(args.bundle, feeds, backend=args.backend, browser=args.browser,
                             threads=args.threads, repeat=max(args.repeat, 3), timeout_s=args.timeout,
                             chromium=args.chromium)
    print(profile_text(profile))
    return 0


def tune_command(args: argparse.Namespace) -> int:
    from webjit.schedule_db import writable_records
    from webjit.tune import report_text, tune

    source = Path(args.model)
    if not source.exists():
        raise ModelError(f"{source} does not exist")
    if source.is_dir() and (args.shape or args.dim):
        raise ShapeError("--shape and --dim are for models; a bundle's shapes are fixed")
    started = time.perf_counter()

    def progress(line: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {line}", file=sys.stderr, flush=True)

    report = tune(source, shape_options(args.shape) or None, dims=dim_options(args.dim), chromium=args.chromium,
                  backend=args.backend, browser=args.browser,
                  budget_s=args.budget, db_dir=Path(args.db) if args.db else writable_records(), threads=args.threads,
                  progress=progress, compare=not args.no_compare)
    print(report_text(report))
    return 0


def fuzz_command(args: argparse.Namespace) -> int:
    from webjit.fuzz import BAD, run_fuzz

    def progress(done, result, report):
        if result.outcome in BAD:
            print(f"  graph {result.index}: {result.outcome}: {result.message.splitlines()[0][:200]}"
                  + (f" (saved {result.case})" if result.case else ""), flush=True)
        if done % 50 == 0 or done == args.count:
            counts = ", ".join(f"{k} {v}" for k, v in sorted(report.outcomes.items()))
            print(f"{done}/{args.count} graphs: {counts}", flush=True)

    from webjit.runner import CHECKOUT
    cases = args.cases or str(CHECKOUT / "tests" / "fuzz_cases" if (CHECKOUT / "tests").is_dir() else Path("fuzz-cases"))
    report = run_fuzz(args.count, args.seed, args.backend, args.jobs, cases, args.start, progress)
    print(report.summary())
    if args.output:
        Path(args.output).write_text(report.to_json())
        print(f"report in {args.output}")
    return 1 if report.bad else 0


def conformance_command(args: argparse.Namespace) -> int:
    from webjit.conformance import main_report

    def progress(done, total, results):
        passed = sum(1 for r in results if r.webjit == "pass")
        print(f"{done}/{total} cases: {passed} pass", flush=True)

    results, text = main_report(args.backend, args.output, progress, args.per_op)
    print("\n".join(text.splitlines()[8:12]))
    if args.output:
        print(f"report in {args.output}")
    return 0


def schedules_list_command(args: argparse.Namespace) -> int:
    from webjit.schedule_db import SHIPPED, ScheduleDB
    folders = [Path(f) for f in args.folders] or [SHIPPED]
    for folder in folders:
        if not folder.is_dir():
            raise RunError(f"schedule database {folder} is not a folder")
    db = ScheduleDB.load(*folders)
    if not db.records:
        print(f"no records in {', '.join(map(str, folders))}")
        return 0
    for device in db.devices():
        records = sorted((r for r in db.records.values() if r.device == device), key=lambda r: -r.speedup)
        print(f"{device}: {len(records)} records")
        for r in records:
            config = " ".join(f"{k}={v}" for k, v in r.config.items()) or "-"
            print(f"  {r.family:<11} {r.speedup:5.2f}x  {r.default_ms:9.4g} -> {r.time_ms:9.4g} ms  "
                  f"tried {r.candidates:3d}  {config}  {r.signature[:70]}")
    return 0


def schedules_merge_command(args: argparse.Namespace) -> int:
    from webjit.schedule_db import ScheduleDB, writable_records
    for source in args.folders:
        if not Path(source).exists():
            raise RunError(f"schedule database {source} does not exist")
    output = Path(args.output) if args.output else writable_records()
    added = ScheduleDB.load(*args.folders)
    db = ScheduleDB.load(output)
    db.merge(added)
    written = db.save(output)
    print(f"{len(added.records)} records read; {len(db.records)} records for {len(db.devices())} devices in "
          f"{output} ({len(written)} files)")
    return 0


def serve_command(args: argparse.Namespace) -> int:
    from webjit.bundle import read_manifest
    from webjit.feeds import load_npy_inputs, make_inputs
    from webjit.runner import compiler_mounts, page_url, runtime_dir, write_npy_folder
    from webjit.server import serve_folders

    root = Path(args.bundle)
    if not root.is_dir():
        raise RunError(f"{root} to serve is not a folder")
    log = (lambda line: print(line, file=sys.stderr)) if args.verbose else None
    for folder in [args.page, *(folder for _, folder in args.mount)]:
        if folder is not None and not Path(folder).is_dir():
            raise RunError(f"folder {folder} to serve does not exist")
    with tempfile.TemporaryDirectory(prefix="webjit-serve-") as inputs_dir:
        compiler = compiler_mounts(Path(inputs_dir) / "compiler")  # compileInBrowser's Pyodide and wheel
        if (root / "manifest.json").is_file():  # a bundle: the runtime's run page (or --page) opens it
            manifest = read_manifest(root)
            write_npy_folder(Path(inputs_dir), make_inputs(manifest, load_npy_inputs(args.input), seed=args.seed))
            mounts = {"/runtime/": runtime_dir(), "/bundle/": root, "/inputs/": inputs_dir, **compiler, **dict(args.mount)}
            page = page_url("", args.backend, args.threads, 1)
            if args.page:
                mounts["/page/"] = args.page
                page = f"/page/?{urllib.parse.urlencode({'backend': args.backend, 'threads': args.threads})}"
            what, redirects = f"{root}", {"/": page}
        else:  # a site of the user's own, with the runtime beside it
            if args.input or args.page:
                raise RunError(f"{root} is not a bundle (it has no manifest.json); --input and --page are for bundles")
            mounts = {"/webjit/": runtime_dir(), **compiler, **dict(args.mount), "/": root}
            what, page, redirects = f"{root} (the JS runtime at /webjit/src/index.js)", "/", {}
        with serve_folders(mounts, port=args.port, host=args.host, redirects=redirects, log=log) as base:
            print(f"serving {what} at {base}{page}", flush=True)
            print("press Ctrl-C to stop", file=sys.stderr, flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                print("stopped", file=sys.stderr)
    return 0


def is_onnx_load_error(err: Exception) -> bool:
    module = type(err).__module__
    return module.startswith(("google.protobuf", "onnx")) or type(err).__name__ in (
        "DecodeError", "ValidationError")


def fail(message: str) -> int:
    print(f"webjit: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
