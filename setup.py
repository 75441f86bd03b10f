"""Ship the repo's weights/ inside the wheel as rtliveness/weights/ (metadata lives in pyproject.toml)."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithWeights(build_py):
    def run(self):
        super().run()
        src = Path(__file__).resolve().parent / "weights"
        if src.is_dir():
            dst = Path(self.build_lib) / "rtliveness" / "weights"
            dst.mkdir(parents=True, exist_ok=True)
            for f in src.iterdir():
                if f.is_file() and f.suffix in (".pt", ".sha256", ".md", ".json", ".onnx"):
                    shutil.copy2(f, dst / f.name)


setup(cmdclass={"build_py": BuildPyWithWeights})
