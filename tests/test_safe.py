"""safe_repr, safe_str and type_name: text about user objects that never raises nor grows."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from twisted_event_dispatcher._safe import DEFAULT_LIMIT, safe_repr, safe_str, type_name


class Refusing:
    """An object whose repr and str raise."""

    def __repr__(self) -> str:
        """Raise."""
        raise RuntimeError("no repr")

    def __str__(self) -> str:
        """Raise."""
        raise RuntimeError("no str")


class Exiting:
    """An object whose repr raises SystemExit, which is no Exception."""

    def __repr__(self) -> str:
        """Raise SystemExit."""
        raise SystemExit(1)


class Wrong:
    """An object whose repr and str return something that is not a str."""

    def __repr__(self) -> Any:
        """Return an int."""
        return 1

    def __str__(self) -> Any:
        """Return an int."""
        return 1  # noqa: PLE0307 -- the point of the test


class Sneaky(str):
    """A str whose len() raises."""

    __slots__ = ()

    def __len__(self) -> int:
        """Raise."""
        raise RuntimeError("no len")


class Masked:
    """An object whose repr is a str subclass that refuses len()."""

    def __repr__(self) -> str:
        """Return a Sneaky str."""
        return Sneaky("masked" * 500)


class Long:
    """An object with a long repr."""

    def __repr__(self) -> str:
        """Return 5,000 characters."""
        return "r" * 5000


def test_raising_repr_and_str_give_placeholders() -> None:
    """A repr or str that raises gives a placeholder naming the type."""
    assert safe_repr(Refusing()) == "<unrepresentable Refusing object>"
    assert safe_str(Refusing()) == "<unprintable Refusing object>"
    assert safe_repr(Exiting()) == "<unrepresentable Exiting object>"


def test_non_str_results_give_placeholders() -> None:
    """A repr or str that returns something other than a str gives a placeholder."""
    assert safe_repr(Wrong()) == "<unrepresentable Wrong object>"
    assert safe_str(Wrong()) == "<unprintable Wrong object>"


def test_str_subclass_results_are_made_plain() -> None:
    """A repr returned as a str subclass is cut as a plain str, whatever the subclass overrides."""
    text = safe_repr(Masked(), 12)
    assert type(text) is str
    assert text == "maskedmasked… (2988 more characters)"


def test_long_reprs_are_cut_to_the_limit() -> None:
    """A long repr keeps the first limit characters and says how many were cut."""
    assert safe_repr(Long(), 10) == "rrrrrrrrrr… (4990 more characters)"
    assert len(safe_repr(Long())) < DEFAULT_LIMIT + 40
    assert safe_repr(Long(), None) == "r" * 5000


def test_long_strings_are_cut_before_conversion() -> None:
    """A long str or bytes is cut before it is converted, and what was cut is counted."""
    assert safe_repr("a" * 10**6, 5) == "'aaaa… (999995 more characters)"
    assert safe_str("a" * 10**6, 5) == "aaaaa… (999995 more characters)"
    assert safe_str(b"a" * 10**6, 5) == "b'aaa… (999995 more bytes)"
    assert safe_repr(bytearray(10), 3) == "byt… (7 more bytes)"


def test_short_values_are_unchanged() -> None:
    """A repr or str within the limit is returned as it is."""
    assert safe_repr("x") == "'x'"
    assert safe_str(ValueError("card declined")) == "card declined"
    assert safe_repr(None) == "None"


def test_type_name_reads_past_a_metaclass() -> None:
    """type_name gives the stored qualified name, even if the metaclass hides attributes."""

    class Meta(type):
        def __getattribute__(cls, name: str) -> Any:
            raise RuntimeError(name)

    class Hidden(metaclass=Meta):
        pass

    assert type_name(Hidden()) == "test_type_name_reads_past_a_metaclass.<locals>.Hidden"
    assert type_name(1) == "int"


_VALUES = st.one_of(
    st.integers(),
    st.text(),
    st.binary(),
    st.lists(st.text()),
    st.dictionaries(st.text(), st.binary()),
    st.sampled_from([Refusing(), Exiting(), Wrong(), Masked(), Long()]),
)


@given(_VALUES, st.integers(1, 50))
def test_results_are_bounded(value: object, limit: int) -> None:
    """Whatever the value, the result is a str no longer than the limit and a short marker."""
    for text in (safe_repr(value, limit), safe_str(value, limit)):
        assert type(text) is str
        assert len(text) <= limit + 60
