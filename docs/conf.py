"""Sphinx configuration for twisted_event_dispatcher's documentation.

Build with ``make docs`` (``sphinx-build -n -W --keep-going``).  The code
examples in the Markdown pages are doctests that ``make test`` runs through
pytest; the diagrams, the trace schema table and the CLI reference are
generated at build time by the library itself (``_ext/generated.py``).
"""

from __future__ import annotations

import sys
from importlib.metadata import version as _version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "twisted_event_dispatcher"
author = "twisted_event_dispatcher developers"
copyright = "2015-2026, twisted_event_dispatcher developers"
release = _version("twisted_event_dispatcher")
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "generated",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_generated", "images", "Thumbs.db", ".DS_Store"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# The build must work offline: no inventories are fetched.  References to
# Python, Twisted, structlog and graphviz objects are plain text; the
# mappings, kept here for a networked build, are left empty on purpose.
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
intersphinx_disabled_reftypes = ["*"]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

nitpicky = True
# Objects of other projects (no inventories offline) and the standard library's typing.
nitpick_ignore_regex = [
    (r"py:.*", r"(twisted|zope|structlog|graphviz|automat|attrs|attr|crochet|treq|pika)\b.*"),
    (r"py:.*", r"(opentelemetry|TracerProvider)\b.*"),
    (r"py:.*", r"(json|IStreamClientEndpoint|RoutingMode|Delivery)\b.*"),
    (r"py:.*", r"(typing|collections|types|contextvars|os|pathlib|logging|argparse)\b.*"),
    (r"py:.*", r"(asyncio|functools|warnings)\b.*"),
    (r"py:.*", r"(IO|Any|Callable|Iterator|Iterable|Mapping|Sequence|Path|PathLike)\b.*"),
    (r"py:.*", r"(Deferred|Failure|Clock|IReactorTime|IReactorFromThreads|Service)\b.*"),
    (r"py:.*", r"(Digraph|TracebackType|EventDict|Processor|WrappedLogger)\b.*"),
    (r"py:.*", r"(_T|_P|_R|T|Format|NoneType|Literal|Final|TypeAlias)\b.*"),
    (r"py:.*", r"(int|str|float|bool|bytes|dict|list|tuple|set|frozenset|object|None)\b.*"),
    (r"py:.*", r"(Exception|ValueError|TypeError|RuntimeError|KeyError|OSError)\b.*"),
    (r"py:.*", r"(AssertionError|BaseException|NotImplementedError|SystemExit)\b.*"),
    # Type variables, and HandlerId as annotations name it before it is imported.
    (r"py:class", r"twisted_event_dispatcher\..*\._[A-Z]\w*"),
    (r"py:class", r"HandlerId"),
]

html_theme = "furo"
html_title = f"twisted_event_dispatcher {release}"
html_static_path: list[str] = []
