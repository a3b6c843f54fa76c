"""What `azd deploy` packages: .funcignore keeps tests and local tooling out, and nothing needed.

.funcignore uses .gitignore syntax. The matcher below implements the part of it the file uses:
``name`` matches that name at any depth, ``dir/`` a directory at any depth, ``*`` within a
path segment, and a pattern with a slash in the middle is anchored at the root.
"""

from __future__ import annotations

import fnmatch
import subprocess
import sys
from pathlib import Path

from shared.settings import APP_ROOT


def _patterns() -> list[str]:
    lines = (APP_ROOT / ".funcignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _ignored(path: str, patterns: list[str]) -> bool:
    parts = path.split("/")
    for pattern in patterns:
        directory_only = pattern.endswith("/")
        body = pattern.rstrip("/").lstrip("/")
        if "/" in body:
            if fnmatch.fnmatch(path, body) or path.startswith(body + "/"):
                return True
            continue
        # A directory pattern matches any leading directory; a plain one any segment.
        segments = parts[:-1] if directory_only else parts
        if any(fnmatch.fnmatch(segment, body) for segment in segments):
            return True
    return False


def packaged_files(files: list[str]) -> list[str]:
    patterns = _patterns()
    return sorted(f for f in files if not _ignored(f, patterns))


def _tracked_files() -> list[str]:
    result = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=APP_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in result.stdout.splitlines() if (APP_ROOT / line).is_file()]


def test_the_package_is_the_app_and_nothing_else() -> None:
    packaged = packaged_files(_tracked_files())
    top = {path.split("/", 1)[0] for path in packaged}
    assert top == {"function_app.py", "host.json", "requirements.txt", "shared"}
    local = ("tests", "simulator", "devhost", "bench", "infra", "docs", ".venv", ".local")
    for local_only in local:
        assert not any(p == local_only or p.startswith(local_only + "/") for p in packaged)
    assert not any(p.endswith("local.settings.json") for p in packaged)


def test_the_matcher_reads_funcignore_like_git() -> None:
    patterns = ["tests/", "*.pyc", ".venv", "docs/"]
    assert _ignored("tests/unit/test_x.py", patterns)
    assert _ignored("shared/__pycache__/x.pyc", patterns)
    assert _ignored(".venv/bin/python", patterns)
    assert not _ignored("shared/tests_helpers.py", patterns)
    assert not _ignored("shared/docs.py", patterns)


def test_every_module_the_app_loads_is_in_the_package(tmp_path: Path) -> None:
    # Import the app and run the OpenAPI builder; list the project files Python loaded.
    probe = (
        "import sys, function_app\n"
        "from shared.http.openapi import build_openapi\n"
        "from shared.http.routes import api_blueprints\n"
        "build_openapi([s for b in api_blueprints() for s in b.specs], version='x')\n"
        "for m in list(sys.modules.values()):\n"
        "    f = getattr(m, '__file__', None) or ''\n"
        f"    if f.startswith({str(APP_ROOT)!r}): print(f)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=APP_ROOT, capture_output=True, text=True, check=True
    )
    loaded = {
        str(Path(line).relative_to(APP_ROOT))
        for line in result.stdout.splitlines()
        if "/.venv/" not in line
    }
    assert "function_app.py" in loaded
    packaged = set(packaged_files(sorted(loaded)))
    assert loaded == packaged
    catalogue = "shared/diagnostics/catalogue.toml"
    assert catalogue in packaged_files([catalogue])
