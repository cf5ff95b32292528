"""The console sessions of the CLI reference run, and print what the page shows."""

from __future__ import annotations

import importlib.util
import re
import shlex
import sys
from pathlib import Path
from types import ModuleType

import pytest

from twisted_event_dispatcher._cli import main

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "reference" / "cli.md"
_CONSOLE = re.compile(r"^```console\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def _sessions() -> list[tuple[str, str]]:
    """Each command of the page's console blocks, with the output shown after it."""
    sessions: list[tuple[str, str]] = []
    for block in _CONSOLE.findall(PAGE.read_text(encoding="utf-8")):
        for part in re.split(r"^\$ ", block, flags=re.MULTILINE)[1:]:
            command, _, output = part.partition("\n")
            sessions.append((command, output))
    return sessions


def _example(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A fresh import of examples/shop_trace.py (its Clock starts at 0)."""
    path = ROOT / "examples" / "shop_trace.py"
    spec = importlib.util.spec_from_file_location("shop_trace", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "shop_trace", module)  # its dataclasses look it up
    spec.loader.exec_module(module)
    return module


def test_the_page_has_sessions() -> None:
    """The page shows tedtool trace with each filter, after writing the example's trace."""
    commands = " ".join(command for command, _ in _sessions())
    assert commands.startswith("python examples/shop_trace.py shop-trace.jsonl")
    for option in ("--status", "--handler", "--since", "--until", "--slowest"):
        assert option in commands


@pytest.mark.parametrize(
    ("command", "output"), _sessions(), ids=[command for command, _ in _sessions()]
)
def test_a_session_prints_what_the_page_shows(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    output: str,
) -> None:
    """Run after the example has written its trace, the command prints the output shown."""
    monkeypatch.chdir(tmp_path)
    with Path("shop-trace.jsonl").open("w", encoding="utf-8") as out:
        _example(monkeypatch).write_trace(out)
    argv = shlex.split(command)
    if argv[:2] == ["python", "examples/shop_trace.py"]:
        assert argv[2:] == ["shop-trace.jsonl"]
        assert output == ""
        return
    assert argv[0] == "tedtool", f"the page runs {argv[0]!r}: only tedtool and the example run"
    assert main(argv[1:]) == 0
    assert capsys.readouterr().out == output
