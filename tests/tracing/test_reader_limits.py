"""Reading and printing traces that are corrupt, hostile or huge: never a crash, bounded text."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from twisted_event_dispatcher import EventRun
from twisted_event_dispatcher.tracing import (
    DEFAULT_VALUE_LENGTH,
    MalformedLine,
    TracedRun,
    format_tree,
    printable,
    read_runs,
)


def _trace(*records: dict[str, Any]) -> io.BytesIO:
    return io.BytesIO(b"".join(json.dumps(record).encode() + b"\n" for record in records))


def _created(run_id: str, parent: str | None = None, **extra: Any) -> dict[str, Any]:
    record = {"event": "run_created", "run_id": run_id, "event_type": "str", "details": {}}
    if parent is not None:
        record["parent_run_id"] = parent
    return record | extra


def _ended(run_id: str) -> dict[str, Any]:
    return {"event": "run_ended", "run_id": run_id, "status": "completed", "duration": 0.5}


def _chain(depth: int) -> list[dict[str, Any]]:
    records = [_created("r0")]
    records += [_created(f"r{n}", f"r{n - 1}") for n in range(1, depth)]
    records += [_ended(f"r{n}") for n in reversed(range(depth))]
    return records


def test_a_run_naming_itself_as_parent_is_a_top_level_run() -> None:
    """A record whose parent_run_id is its own run_id starts a tree of its own."""
    (tree,) = read_runs(_trace(_created("r1", "r1"), _ended("r1")))
    assert tree.run_id == "r1"
    assert tree.status == "completed"
    assert tree.children == []
    assert "(child of run r1)" in next(format_tree(tree))


def test_runs_naming_each_other_as_parents_form_no_cycle() -> None:
    """Two runs naming each other as parents make one tree: the parent must be open first."""
    trees = list(
        read_runs(_trace(_created("a", "b"), _created("b", "a"), _ended("b"), _ended("a")))
    )
    assert [tree.run_id for tree in trees] == ["a"]
    assert [run.run_id for run in trees[0].walk()] == ["a", "b"]


def test_deeply_nested_json_is_a_malformed_line() -> None:
    """A line nested deeper than the parser can go is reported, and reading goes on."""
    problems: list[MalformedLine] = []
    source = io.BytesIO(b"[" * 100_000 + b"\n" + _trace(_created("r1"), _ended("r1")).getvalue())
    (tree,) = read_runs(source, on_error=problems.append)
    assert tree.status == "completed"
    assert [(p.line_number, p.reason) for p in problems] == [(1, "JSON nested too deeply")]


def test_a_chain_of_a_thousand_child_runs_reads_walks_and_prints() -> None:
    """A 1,000-deep chain of child runs is read, walked and printed without recursion."""
    (tree,) = read_runs(_trace(*_chain(1_000)))
    assert [run.run_id for run in tree.walk()] == [f"r{n}" for n in range(1_000)]
    lines = list(format_tree(tree))
    assert len(lines) == 1_000
    assert lines[-1].endswith("[depth 999]")
    assert max(len(line) for line in lines) < 200


def test_a_second_end_record_is_ignored_whatever_its_status() -> None:
    """A run ended twice, the first time as 'unfinished', keeps its tree open for its parent."""
    unfinished = _ended("child") | {"status": "unfinished"}
    records = [_created("top"), _created("child", "top"), unfinished, _ended("child")]
    trees = list(read_runs(_trace(*records, _ended("top"))))
    assert [tree.run_id for tree in trees] == ["top"]
    assert [run.status for run in trees[0].walk()] == ["completed", "unfinished"]


def test_values_of_the_wrong_type_are_shown_as_short_text() -> None:
    """Lists, numbers and deeply nested objects where names belong become short text."""
    nested: Any = "leaf"
    for _ in range(500):
        nested = [nested]
    records = [
        _created("r1", event_type=["not", "a", "name"], details={"a": nested, "b": 10**100}),
        {"event": "phase_entered", "run_id": "r1", "phase": {"x": nested}},
        {"event": "handler_called", "run_id": "r1", "phase": 3, "handler_name": nested},
        {"event": "handler_settled", "run_id": "r1", "phase": 3, "status": [1], "duration": "x"},
        {"event": "run_ended", "run_id": "r1", "status": nested, "duration": [2]},
    ]
    (tree,) = read_runs(_trace(*records))
    text = "\n".join(format_tree(tree))
    assert "['not', 'a', 'name']" in text
    assert "[[[[...]]]]" in text
    assert len(text) < 2_000


def test_long_values_are_cut_and_control_characters_escaped() -> None:
    """format_tree cuts each value to its limit and escapes newlines and escape sequences."""
    message = "boom\n\x1b[31mred" + "x" * 10_000
    records = [
        _created("r1", details={"body": "b" * 50_000}),
        {"event": "handler_called", "run_id": "r1", "phase": "during", "handler_name": "h"},
        {
            "event": "handler_settled",
            "run_id": "r1",
            "phase": "during",
            "handler_name": "h",
            "status": "failed",
            "exception_type": "ValueError",
            "exception_message": message,
        },
        _ended("r1"),
    ]
    (tree,) = read_runs(_trace(*records))
    text = "\n".join(format_tree(tree))
    assert len(text) < 4 * DEFAULT_VALUE_LENGTH + 400
    assert "ValueError: boom\\n\\x1b[31mred" in text
    assert "\x1b" not in text
    assert f"(+{50_000 - DEFAULT_VALUE_LENGTH} chars)" in text
    whole = "\n".join(format_tree(tree, max_value_length=None))
    assert "b" * 50_000 in whole
    assert len("\n".join(format_tree(tree, max_value_length=20))) < 300


def test_max_value_length_must_be_positive() -> None:
    """A max_value_length below 1 is a ValueError naming it."""
    with pytest.raises(ValueError, match="max_value_length must be None or at least 1; got 0"):
        list(format_tree(TracedRun("r1"), max_value_length=0))


def test_printable_keeps_plain_text() -> None:
    """printable() returns short printable text unchanged, and escapes the rest."""
    assert printable("héllo wörld ✓") == "héllo wörld ✓"
    assert printable("a\tb\u202e", limit=None) == "a\\tb\\u202e"
    assert printable("abcdef", limit=3) == "abc… (+3 chars)"


class _Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    def __str__(self) -> str:
        raise RuntimeError("no str")


def test_event_runs_convert_whatever_their_values_do() -> None:
    """from_event_run converts a 1,000-deep chain, and details and errors whose dunders raise."""
    runs = [EventRun("r0", None, "e", {"bad": _Unprintable()}, "completed", [])]
    runs += [EventRun(f"r{n}", f"r{n - 1}", "e", {}, "completed", []) for n in range(1, 1_000)]
    runs.append(EventRun("r0", "r999", "e", {}, "completed", []))  # a cycle back to the root
    traced = TracedRun.from_event_run(runs[0], runs[1:])
    assert [run.run_id for run in traced.walk()] == [f"r{n}" for n in range(1_000)]
    assert "_Unprintable" in traced.details["bad"]
