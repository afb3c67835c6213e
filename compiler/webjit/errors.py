"""Errors a user can cause. Each carries one sentence naming the thing and what to do."""


class WebjitError(Exception):
    """Base of every error the command line prints as one sentence instead of a traceback."""


class ModelError(WebjitError):
    """The model file cannot be read or is not a valid ONNX model."""


class UnsupportedError(WebjitError):
    """The model uses ops or features webjit does not compile."""


class ShapeError(WebjitError):
    """A shape is missing, dynamic or does not match."""


class CompileError(WebjitError):
    """Compilation failed for a reason inside the compiler."""


class BundleError(WebjitError):
    """A bundle is missing, corrupt or from another format version."""


class RunError(WebjitError):
    """Running a bundle failed (bad inputs, browser or runtime failure)."""
