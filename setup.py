"""Compiles the verifier's hot modules with Cython when it can; pyproject.toml has the rest.

The modules stay plain Python (the `.pxd` files beside them only declare class
layouts), so a machine without Cython or a C compiler installs and runs the
same verifier interpreted.  After building, `native.json` records a hash of
each compiled source; xdptool/verifier/native.py refuses a build that no longer
matches its sources.
"""

import json
import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
VERIFIER = ROOT / "xdptool" / "verifier"


def _native_module():
    """xdptool/verifier/native.py, loaded without importing the package (its deps may be absent)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_xdptool_native", VERIFIER / "native.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


native = _native_module()


class OptionalBuildExt(build_ext):
    """Builds the extensions if it can, else says so and leaves the pure-Python package."""

    def run(self):
        if not self.extensions:  # Cython missing or failed: no manifest, so an older build is not vouched for
            return
        try:
            super().run()
        except Exception as error:  # no compiler, no Python headers, ...: interpreted is still correct
            print(f"xdptool: verifier not compiled ({error}); it will run interpreted", file=sys.stderr)
            return
        target = Path(self.get_ext_fullpath(f"xdptool.verifier.{native.MODULES[0]}")).parent
        manifest = native.build_manifest()
        target.mkdir(parents=True, exist_ok=True)
        (target / native.MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")


def _extensions():
    if os.environ.get("XDPTOOL_NO_NATIVE"):  # the Makefile compiles them itself, in parallel (`make native`)
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        print("xdptool: Cython not installed; the verifier will run interpreted", file=sys.stderr)
        return []
    sources = [f"xdptool/verifier/{m}.py" for m in native.MODULES]
    try:
        return cythonize(sources, build_dir="build/cython", quiet=True, nthreads=2,
                         compiler_directives={"language_level": 3, "binding": False})
    except Exception as error:  # a Cython that cannot translate them: interpreted is still correct
        print(f"xdptool: Cython failed ({error}); the verifier will run interpreted", file=sys.stderr)
        return []


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
