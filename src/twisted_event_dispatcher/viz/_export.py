"""Saving diagrams: DOT source, or rendered by Graphviz's ``dot`` as SVG, PNG or PDF."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Final, Literal, TypeAlias, cast

if TYPE_CHECKING:
    import graphviz

__all__ = [
    "FORMATS",
    "INSTALL_HINT",
    "PACKAGE_HINT",
    "Format",
    "RenderError",
    "import_graphviz",
    "render",
    "write",
]

Format: TypeAlias = Literal["dot", "svg", "png", "pdf"]
"""An output format: DOT source, or one that Graphviz's ``dot`` renders."""

FORMATS: Final[tuple[Format, ...]] = ("dot", "svg", "png", "pdf")
"""Every :data:`Format`, DOT source first."""

INSTALL_HINT: Final = (
    "install Graphviz: 'apt-get install graphviz' (Debian, Ubuntu), 'brew install graphviz' "
    "(macOS), or see https://graphviz.org/download/"
)
"""How to get the ``dot`` binary, for error messages."""

PACKAGE_HINT: Final = (
    "diagrams need the graphviz package: pip install 'twisted_event_dispatcher[viz]'"
)
"""How to get the graphviz Python package (the ``viz`` extra), for error messages."""

_DOT_ERROR_LENGTH: Final = 300
"""Characters of dot's error output a :class:`RenderError` quotes."""


def import_graphviz() -> ModuleType:
    """Import and return the graphviz package, or say how to install it.

    Raises:
        ModuleNotFoundError: graphviz is not installed; the message is
            :data:`PACKAGE_HINT`, and ``name`` is ``"graphviz"``.
    """
    try:
        import graphviz
    except ImportError as error:
        raise ModuleNotFoundError(PACKAGE_HINT, name="graphviz") from error
    return cast("ModuleType", graphviz)


class RenderError(RuntimeError):
    """A diagram cannot be rendered: Graphviz's ``dot`` binary is missing, or it failed.

    DOT source (format ``dot``) can still be produced.  The message says
    which, quoting the start of ``dot``'s error output.

    .. versionadded:: 1.0
    """


def render(graph: graphviz.Digraph, fmt: Format) -> bytes:
    """Return *graph* as *fmt*: its DOT source (UTF-8), or what ``dot`` renders.

    Raises:
        RenderError: *fmt* is not ``dot``, and the ``dot`` binary is missing
            or fails (on a label too long for it, say).
        ValueError: *fmt* is not one of :data:`FORMATS`.
        ModuleNotFoundError: The graphviz package is not installed.

    .. versionadded:: 1.0
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    source = cast("str", graph.source).encode("utf-8")
    if fmt == "dot":
        return source
    graphviz = import_graphviz()
    # graphviz.pipe() hands dot the source in one piece and reads its error output, where
    # Digraph.pipe() writes it line by line (BrokenPipeError when dot gives up early) and
    # copies dot's errors to our standard error.
    try:
        return cast("bytes", graphviz.pipe(graph.engine, fmt, source, quiet=True))
    except graphviz.ExecutableNotFound:
        raise RenderError(
            f"cannot render {fmt.upper()}: Graphviz's dot binary was not found on PATH; "
            + INSTALL_HINT
        ) from None
    except graphviz.CalledProcessError as error:
        raise RenderError(
            f"cannot render {fmt.upper()}: dot failed ({_dot_error(error.stderr)})"
        ) from None
    except OSError as error:
        raise RenderError(
            f"cannot render {fmt.upper()}: running dot failed ({error.strerror or error})"
        ) from None


def _dot_error(stderr: object) -> str:
    """The start of dot's error output, on one line."""
    if isinstance(stderr, bytes):
        stderr = stderr.decode("utf-8", "replace")
    text = " ".join(str(stderr or "").split()) or "no error message"
    if len(text) > _DOT_ERROR_LENGTH:
        text = text[:_DOT_ERROR_LENGTH] + "…"
    return text


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
