"""Issue 20, "Why" 10: the torch floor must exclude the versions whose
``torch.load(weights_only=True)`` can be bypassed (CVE-2025-32434, fixed in 2.6)."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def _floor(name: str) -> Version:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        m = re.fullmatch(rf"{name}\s*>=\s*([0-9.]+)\s*", dep.split(";")[0])
        if m:
            return Version(m.group(1))
    raise AssertionError(f"{name} has no >= floor in pyproject.toml")


def test_torch_floor_excludes_the_weights_only_bypass() -> None:
    assert _floor("torch") >= Version("2.6")


def test_torchvision_floor_matches_torch_2_6() -> None:
    assert _floor("torchvision") >= Version("0.21")
