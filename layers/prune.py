"""Delete from a built layer the distributions that another layer or the Lambda runtime already provides.

    python prune.py LAYER_PYTHON_DIR PROVIDED_PYTHON_DIR [PROVIDED_PYTHON_DIR ...]

Layers unpack into the same /opt/python, so a package installed in two layers
only costs space toward the 250 MB unzipped limit. The Python runtimes already
contain boto3, botocore and s3transfer, so no layer ships them.
"""

from __future__ import annotations

import shutil
import sys
from importlib.metadata import Distribution
from pathlib import Path

RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer"}


def installed(python_dir: Path) -> dict[str, Distribution]:
    found = {}
    for info in python_dir.glob("*.dist-info"):
        distribution = Distribution.at(info)
        found[distribution.metadata["Name"].lower().replace("_", "-")] = distribution
    return found


def remove(distribution: Distribution, python_dir: Path) -> None:
    for file in distribution.files or []:
        path = (python_dir / file).resolve()
        if path.is_relative_to(python_dir.resolve()) and path.is_file():
            path.unlink()
    shutil.rmtree(Path(distribution._path), ignore_errors=True)  # the .dist-info folder itself


def main(layer_dir: str, *provided_dirs: str) -> None:
    layer = Path(layer_dir)
    provided = set(RUNTIME_PROVIDED)
    for directory in provided_dirs:
        provided |= set(installed(Path(directory)))
    for name, distribution in installed(layer).items():
        if name in provided:
            remove(distribution, layer)
            print(f"pruned {name} from {layer}")
    for folder in list(layer.iterdir()):
        if folder.is_dir() and not any(path.is_file() for path in folder.rglob("*")):
            shutil.rmtree(folder)


if __name__ == "__main__":
    main(*sys.argv[1:])
