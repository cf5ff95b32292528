"""The public API's typing, checked by running the project's mypy on example files."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from twisted_event_dispatcher import EventDispatcher

CASES = Path(__file__).parent / "cases"
ROOT = Path(__file__).parents[2]
_ERROR = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[\w-]+)\]$")
_EXPECTED = re.compile(r"#\s*E:\s*(?P<code>[\w-]+)\s*$")


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[tuple[int, str]]]:
    """Run mypy --strict (the project's configuration) once on both case files."""
    files = [CASES / "typed_ok.py", CASES / "typed_errors.py"]
    result = subprocess.run(  # noqa: S603 -- our own interpreter, our own files
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--strict",
            "--cache-dir",
            str(tmp_path_factory.mktemp("mypy-cache")),
            "--no-error-summary",
            "--hide-error-context",
            "--no-pretty",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr  # 2 would be a crash or a usage error
    errors: dict[str, set[tuple[int, str]]] = {file.name: set() for file in files}
    for line in result.stdout.splitlines():
        match = _ERROR.match(line)
        assert match is not None or ": note: " in line, line
        if match is not None:
            name = Path(match["path"]).name
            errors[name].add((int(match["line"]), match["code"]))
    return errors


def _expected(name: str) -> set[tuple[int, str]]:
    lines = (CASES / name).read_text(encoding="utf-8").splitlines()
    return {
        (number, match["code"])
        for number, text in enumerate(lines, start=1)
        if (match := _EXPECTED.search(text)) is not None
    }


def test_typed_use_type_checks(mypy_errors: dict[str, set[tuple[int, str]]]) -> None:
    """Typed use of a parameterised (and an unparameterised) dispatcher raises no error."""
    assert mypy_errors["typed_ok.py"] == set()


def test_typed_misuse_is_flagged_line_by_line(
    mypy_errors: dict[str, set[tuple[int, str]]],
) -> None:
    """Every marked line of the misuse file is flagged with its error code, and no other."""
    expected = _expected("typed_errors.py")
    assert len(expected) == 9
    assert mypy_errors["typed_errors.py"] == expected


def test_parameterised_at_run_time() -> None:
    """EventDispatcher[UserEvent](...) builds a dispatcher at run time, as the plain class does."""
    dispatcher = EventDispatcher[int](["role"])
    assert isinstance(dispatcher, EventDispatcher)
    assert dispatcher.match_spec_keywords == ("role",)
