"""The dependency floors keep out releases with known advisories on paths the bot exposes.

The bot's web server parses multipart bodies from the network (aiohttp) and the bot decodes
images members attach (Pillow): a floor that admits a vulnerable release lets a fresh install,
or a packager, pick it. The lock (the Docker image, CI) must satisfy the same floors.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent

# The lowest releases without a known advisory on what the bot exposes to untrusted input.
MINIMUM = {
    # 3.13.4: GHSA-3wq7-rqq7-wx6j / CVE-2026-34517, multipart fields read whole before
    # client_max_size was checked. 3.14.4: GHSA-24c4-3p7v-29cm / PYSEC-2026-4394, base64
    # multipart parts bypassing client_max_size; GHSA-2g87-pp6c-29x5, unbounded memory or CPU.
    "aiohttp": Version("3.14.4"),
    # 12.1.1: GHSA-cfh3-3jmp-rvhc / CVE-2026-25990, out-of-bounds write opening a PSD.
    # 12.2.0 and 12.3.0: more decoder overflows and decompression-bomb bypasses
    # (CVE-2026-40192, PYSEC-2026-2253..2257, PYSEC-2026-3451..3453). 12.3.0 is itself flagged
    # by distribution feeds as fixed only in 13.0.0.
    "pillow": Version("13.0.0"),
}


def _runtime_requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    found = {}
    for line in project["dependencies"]:
        requirement = Requirement(line)
        found[canonicalize_name(requirement.name)] = requirement
    return found


def _lock_pins() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9._-]+)==([^\s;#]+)", line)
        if match:
            pins[canonicalize_name(match.group(1))] = Version(match.group(2))
    return pins


def _floor(requirement: Requirement) -> Version | None:
    """The lowest version the requirement's specifiers can admit, or None if unbounded."""
    bounds = [
        Version(spec.version)
        for spec in requirement.specifier
        if spec.operator in {">=", ">", "~=", "==", "==="}
    ]
    return max(bounds, default=None)


@pytest.mark.parametrize("name", sorted(MINIMUM))
def test_pyproject_floor_excludes_releases_with_advisories(name: str) -> None:
    requirement = _runtime_requirements()[name]
    floor = _floor(requirement)
    assert floor is not None, f"{requirement} has no lower bound"
    assert floor >= MINIMUM[name], f"{requirement} admits releases below {MINIMUM[name]}"


@pytest.mark.parametrize("name", sorted(MINIMUM))
def test_lock_pins_at_least_the_minimum(name: str) -> None:
    pin = _lock_pins()[name]
    assert pin >= MINIMUM[name], f"requirements.lock pins {name}=={pin}, below {MINIMUM[name]}"


def test_every_runtime_dependency_is_pinned_within_its_range() -> None:
    pins = _lock_pins()
    for name, requirement in _runtime_requirements().items():
        assert name in pins, f"{name} is not pinned in requirements.lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside {requirement}"
        )


def test_ci_installs_the_locked_runtime_set_before_the_project() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    lock = script.find("-r requirements.lock")
    project = script.find("-e '.[dev]'")
    assert lock != -1, ".ci/run does not install requirements.lock"
    assert project != -1
    assert lock < project
