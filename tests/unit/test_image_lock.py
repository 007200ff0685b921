"""infra/requirements.lock (what the image installs) agrees with pyproject.toml: every runtime
dependency is pinned, within its range, with hashes. Regenerate it with `make lock`."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)")


def locked() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes)"""
    pins: dict[str, tuple[str, int]] = {}
    name = ""
    for line in (ROOT / "infra" / "requirements.lock").read_text().splitlines():
        match = PIN.match(line)
        if match:
            name = canonicalize_name(match.group(1))
            pins[name] = (match.group(2), 0)
        elif line.strip().startswith("--hash=sha256:") and name:
            version, hashes = pins[name]
            pins[name] = (version, hashes + 1)
    return pins


def test_every_runtime_dependency_is_pinned_in_range_with_hashes():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = locked()
    stale = []
    # The captions extra too: the image carries faster-whisper and its model.
    for spec in project["dependencies"] + project["optional-dependencies"]["captions"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        if name not in pins or not requirement.specifier.contains(pins[name][0]):
            stale.append(f"{spec} (locked: {pins.get(name, ('nothing',))[0]})")
    assert not stale, f"run `make lock`: {stale}"
    assert all(hashes >= 1 for _, hashes in pins.values())
    # Only runtime dependencies go into the image: none of the dev extra's tools.
    assert not {"pytest", "moto", "ruff", "playwright"} & set(pins)
