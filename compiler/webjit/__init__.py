"""webjit: compile ONNX models to web bundles and run them in the browser."""
__version__ = "0.1.0"
