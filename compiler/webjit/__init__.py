"""webjit: compile ONNX models to web bundles and run them in the browser."""
__version__ = "0.1.0"


def __getattr__(name):
    # The compiler pipeline imports every code generator; load it only when asked for.
    if name in ("compile", "Options"):
        from . import pipeline
        return getattr(pipeline, name)
    if name == "run":  # webjit.run(bundle_dir, inputs, backend=..., browser=...) -> RunResult
        from .runner import run_bundle
        return run_bundle
    raise AttributeError(f"module 'webjit' has no attribute {name!r}")
