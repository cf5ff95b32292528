"""Saving diagrams: DOT source, or rendered by Graphviz's ``dot`` as SVG, PNG or PDF."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, TypeAlias, cast

if TYPE_CHECKING:
    import graphviz

__all__ = ["FORMATS", "INSTALL_HINT", "Format", "RenderError", "render", "write"]

Format: TypeAlias = Literal["dot", "svg", "png", "pdf"]
"""An output format: DOT source, or one that Graphviz's ``dot`` renders."""

FORMATS: Final[tuple[Format, ...]] = ("dot", "svg", "png", "pdf")
"""Every :data:`Format`, DOT source first."""

INSTALL_HINT: Final = (
    "install Graphviz: 'apt-get install graphviz' (Debian, Ubuntu), 'brew install graphviz' "
    "(macOS), or see https://graphviz.org/download/"
)
"""How to get the ``dot`` binary, for error messages."""


class RenderError(RuntimeError):
    """A diagram cannot be rendered: Graphviz's ``dot`` binary is not on ``PATH``.

    DOT source (format ``dot``) can still be produced.

    .. versionadded:: 1.0
    """


def render(graph: graphviz.Digraph, fmt: Format) -> bytes:
    """Return *graph* as *fmt*: its DOT source (UTF-8), or what ``dot`` renders.

    Raises:
        RenderError: *fmt* is not ``dot`` and the ``dot`` binary is missing.
        ValueError: *fmt* is not one of :data:`FORMATS`.

    .. versionadded:: 1.0
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "dot":
        return cast("str", graph.source).encode("utf-8")
    import graphviz

    try:
        return cast("bytes", graph.pipe(format=fmt))
    except graphviz.ExecutableNotFound:
        raise RenderError(
            f"cannot render {fmt.upper()}: Graphviz's dot binary was not found on PATH; "
            + INSTALL_HINT
        ) from None


def format_of(path: str | os.PathLike[str], default: Format = "svg") -> Format:
    """Return the format *path*'s suffix names, or *default* when it names none."""
    suffix = Path(path).suffix.lstrip(".").lower()
    suffix = "dot" if suffix == "gv" else suffix
    for fmt in FORMATS:
        if suffix == fmt:
            return fmt
    return default


def write(
    graph: graphviz.Digraph, path: str | os.PathLike[str], fmt: Format | None = None
) -> Path:
    """Write *graph* to *path* as *fmt* (by default, the format *path*'s suffix names).

    Returns:
        The path written.

    Raises:
        RenderError: Rendering needs ``dot``, which is missing (nothing is written).
        OSError: *path* cannot be written.

    .. versionadded:: 1.0
    """
    data = render(graph, fmt or format_of(path))
    target = Path(path)
    target.write_bytes(data)
    return target
