"""The public API's annotations, checked by mypy with the [tool.mypy] config of pyproject.toml (when installed:
pip install ".[typecheck]"): typed user code (tests/typing/public_api.py) passes, and a wrong call fails."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                                reason="mypy not installed: pip install '.[typecheck]' to type-check the public API")


def mypy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"),
                           "--cache-dir", str(REPO / ".mypy_cache"), *args],
                          capture_output=True, text=True, timeout=600, cwd=REPO)


def test_public_api_type_checks():
    out = mypy()
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]


def test_a_wrong_call_fails_the_check(tmp_path):
    bad = tmp_path / "bad_usage.py"
    bad.write_text("import jaxscale as js\n"
                   "js.fit({'N': [1.0]}, delta='big')\n"
                   "js.constrain(js.CHINCHILLA, fixed=['E'])\n")
    out = mypy(str(bad))
    assert out.returncode == 1
    assert 'Argument "delta" to "fit" has incompatible type "str"; expected "float"' in out.stdout
    assert 'Argument "fixed" to "constrain"' in out.stdout
