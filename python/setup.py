# The extension module is libcapture itself, compiled in from ../libcapture: `pip install
# ./python` needs no installed libcapture, and there is one implementation of the protocol.
import glob
import os

from setuptools import Extension, setup

here = os.path.dirname(os.path.abspath(__file__))
lib = os.path.normpath(os.path.join(here, "..", "libcapture"))
sources = ["src/capture_module.c"] + [os.path.relpath(p, here) for p in sorted(glob.glob(os.path.join(lib, "src", "*.c")) + glob.glob(os.path.join(lib, "payload", "*.c")))]

setup(ext_modules=[Extension(
    "capture._capture",
    sources=sources,
    include_dirs=[os.path.join(lib, "include"), os.path.join(lib, "payload", "include"), os.path.join(lib, "src"),
                  os.path.normpath(os.path.join(here, "..", "driver", "uapi"))],
    extra_compile_args=["-std=gnu11", "-O2", "-fvisibility=hidden", "-D_GNU_SOURCE"],
    libraries=["pthread"],
)])
