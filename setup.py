"""Build steps pyproject.toml cannot state: the wheel carries the JS runtime, and a build
leaves the checkout as it was.

- runtime_web/ (src, bin, page and the type declarations: what `webjit run` and `webjit serve`
  need) is copied into the wheel as the package data folder webjit/runtime_web, so an installed
  webjit runs bundles without a checkout (runner.runtime_dir looks there first).
- build/ and the .egg-info folder go to a temporary folder instead of the checkout.
"""
import atexit
import shutil
import tempfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build import build
from setuptools.command.build_py import build_py
from setuptools.command.egg_info import egg_info

ROOT = Path(__file__).resolve().parent
RUNTIME_PARTS = ("src", "bin", "page", "index.d.ts", "npy.d.ts", "text.d.ts", "package.json", "README.md")
SCRATCH = Path(tempfile.mkdtemp(prefix="webjit-build-"))
atexit.register(shutil.rmtree, SCRATCH, ignore_errors=True)


class BuildOutside(build):
    def initialize_options(self):
        super().initialize_options()
        self.build_base = str(SCRATCH / "build")


class EggInfoOutside(egg_info):
    def initialize_options(self):
        super().initialize_options()
        self.egg_base = str(SCRATCH)


class BuildWithRuntime(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):  # the checkout's runtime_web/ is found in place
            return
        source, target = ROOT / "runtime_web", Path(self.build_lib) / "webjit" / "runtime_web"
        if not (source / "src" / "index.js").is_file():
            raise SystemExit(f"cannot build the wheel: {source} has no src/index.js")
        shutil.rmtree(target, ignore_errors=True)
        for part in RUNTIME_PARTS:
            path = source / part
            if path.is_dir():
                shutil.copytree(path, target / part)
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / part)
        records = Path(self.build_lib) / "webjit" / "schedules"
        shutil.rmtree(records, ignore_errors=True)
        shutil.copytree(ROOT / "schedules", records)


setup(cmdclass={"build": BuildOutside, "egg_info": EggInfoOutside, "build_py": BuildWithRuntime})
