"""Builds the medenc Python package: CMake builds the library and the pybind11 extension
(medenc._medenc) from the repository this folder belongs to; setuptools packages it.

    python3 -m venv --system-site-packages .venv
    .venv/bin/pip install --no-build-isolation ./python

Works offline with Debian's packages only (see scripts/setup.sh). MEDENC_CMAKE_BUILD_DIR reuses a
build folder (default: python/build/cmake, kept between installs); MEDENC_CMAKE_ARGS adds options.
"""
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        if not (REPO / "CMakeLists.txt").exists() or not (REPO / "include" / "medenc").is_dir():
            raise RuntimeError(f"{REPO} is not the medenc repository: install from a checkout (pip install ./python)")
        build_dir = Path(os.environ.get("MEDENC_CMAKE_BUILD_DIR", HERE / "build" / "cmake")).resolve()
        build_dir.mkdir(parents=True, exist_ok=True)
        configure = ["cmake", "-S", str(REPO), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release",
                     "-DMEDENC_BUILD_PYTHON=ON", "-DMEDENC_BUILD_TESTS=OFF", f"-DPython_EXECUTABLE={sys.executable}"]
        configure += shlex.split(os.environ.get("MEDENC_CMAKE_ARGS", ""))
        subprocess.run(configure, check=True)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 1)
        subprocess.run(["cmake", "--build", str(build_dir), "--target", "medenc_python", "-j", jobs], check=True)
        built = sorted((build_dir / "python" / "medenc").glob("_medenc*.so"))
        if not built:
            raise RuntimeError(f"the build left no _medenc*.so in {build_dir / 'python' / 'medenc'}")
        target = Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built[-1], target)


setup(
    name="medenc",
    version="0.1.0",
    description="Clinical text encoders (ModernBERT, BERT, Megatron-BERT) on CPU: inference, fine-tuning, Dask jobs",
    python_requires=">=3.9",
    packages=["medenc"],
    package_data={"medenc": ["py.typed", "*.pyi"]},
    ext_modules=[CMakeExtension("medenc._medenc")],
    cmdclass={"build_ext": CMakeBuild},
    install_requires=["numpy"],
    extras_require={"dask": ["dask", "distributed"]},
    zip_safe=False,
)
