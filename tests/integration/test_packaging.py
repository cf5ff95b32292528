"""Packaging: the wheel and sdist build, pass ``twine check``, and install and import cleanly."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

MIT_TERMS = (
    "Permission is hereby granted, free of charge, to any person obtaining a copy of this "
    'software and associated documentation files (the "Software"), to deal in the Software '
    "without restriction, including without limitation the rights to use, copy, modify, merge, "
    "publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons "
    "to whom the Software is furnished to do so, subject to the following conditions: "
    "The above copyright notice and this permission notice shall be included in all copies or "
    "substantial portions of the Software. "
    'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, '
    "INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR "
    "PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE "
    "FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR "
    "OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER "
    "DEALINGS IN THE SOFTWARE."
)
"""The MIT licence's terms (https://spdx.org/licenses/MIT.html), whitespace collapsed."""


def _run(*argv: str | Path, cwd: Path = ROOT) -> str:
    # The fresh venv must see only itself: no PYTHONPATH from the calling environment.
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    done = subprocess.run(  # noqa: S603 -- our own interpreter and tools, fixed arguments
        [str(arg) for arg in argv], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_build_check_install_import(tmp_path: Path) -> None:
    """The wheel and sdist build, twine accepts them, and the wheel imports from a fresh venv."""
    dist = tmp_path / "dist"
    # --no-isolation: build with the hatchling of this environment, offline.
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, ROOT)
    wheels = sorted(dist.glob("*.whl"))
    sdists = sorted(dist.glob("*.tar.gz"))
    assert len(wheels) == 1
    assert len(sdists) == 1
    _run(sys.executable, "-m", "twine", "check", "--strict", *wheels, *sdists)

    wheel = zipfile.ZipFile(wheels[0])
    names = wheel.namelist()
    (licence,) = [name for name in names if name.endswith(".dist-info/licenses/LICENSE")]
    assert wheel.read(licence) == (ROOT / "LICENSE").read_bytes()
    assert "twisted_event_dispatcher/py.typed" in names
    assert "twisted_event_dispatcher/testing.py" in names
    assert not [name for name in names if name.startswith(("tests/", "docs/", "examples/"))]

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheels[0])
    # The dependencies come from this environment's site-packages, added after the fresh
    # venv's own (a .pth line is a plain path: this environment's editable install, itself
    # a .pth file, is not processed), so nothing is downloaded and the wheel's copy wins.
    fresh_site = Path(
        _run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip()
    )
    (fresh_site / "zz_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    out = _run(
        python,
        "-c",
        "import twisted_event_dispatcher as t, twisted_event_dispatcher.testing, "
        "twisted_event_dispatcher.tracing; print(t.__file__); print(t.__version__); "
        "print(t.DispatcherService.__name__)",
        cwd=tmp_path,
    )
    where, version, service = out.split()
    assert Path(where).is_relative_to(venv)
    assert (
        version
        == _run(
            sys.executable, "-c", "import twisted_event_dispatcher as t; print(t.__version__)"
        ).strip()
    )
    assert service == "DispatcherService"
    _run(venv / "bin" / "tedtool", "--help", cwd=tmp_path)


def test_licence_is_the_whole_mit_licence() -> None:
    """LICENSE holds the MIT licence's title, a copyright line and its terms, word for word."""
    paragraphs = (ROOT / "LICENSE").read_text().strip().split("\n\n")
    assert len(paragraphs) > 2, paragraphs
    assert paragraphs[0] == "MIT License"
    assert re.fullmatch(
        r"Copyright \(c\) 20\d\d twisted_event_dispatcher developers", paragraphs[1]
    )
    assert " ".join(" ".join(paragraphs[2:]).split()) == MIT_TERMS
