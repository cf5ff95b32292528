"""A Sphinx extension: pages and diagrams the library generates at build time.

On ``builder-inited`` it writes, under ``docs/_generated/``:

- ``tutorial-topology.svg``, ``tutorial-run-machine.svg`` and
  ``tutorial-run.svg``: the tutorial's dispatcher, its run machine and one
  of its runs, drawn by :mod:`twisted_event_dispatcher.viz`;
- ``tutorial-trace.txt``: that run's trace, as ``tedtool trace`` prints it;
- ``trace-schema.md``: the table of records, from
  :data:`twisted_event_dispatcher.tracing.EVENTS`;
- ``cli-*.txt``: ``tedtool``'s help texts.

The pages include these files, so the documentation always shows what the
installed library does.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx

_HERE = Path(__file__).resolve().parent


def _tutorial_dispatcher() -> Any:
    """The tutorial's dispatcher, on a Clock, with its handlers registered."""
    from twisted.internet import task

    from twisted_event_dispatcher.testing import dispatcher_on_clock

    dispatcher, clock = dispatcher_on_clock(
        ("event_type", "user", "role"), on_handler_error="abort"
    )
    handlers = UserHandlers(clock, task)
    dispatcher.add_event_handler(handlers.check_user, "before", event_type="user_created")
    dispatcher.add_event_handler(handlers.store_user, "during", event_type="user_created")
    dispatcher.add_event_handler(handlers.notify_admin, "after", role="admin")
    dispatcher.add_event_handler(handlers.audit, "after")
    return dispatcher, handlers


class UserHandlers:
    """The tutorial's handlers (a copy of the tutorial's, which is a doctest)."""

    def __init__(self, clock: Any, task: Any) -> None:
        self.clock = clock
        self.task = task

    def check_user(self, event: Any) -> None:
        """Refuse an empty user name."""
        if not event.user:
            raise ValueError("a user needs a name")

    def store_user(self, _event: Any) -> Any:
        """Store the user, taking 50 ms."""
        return self.task.deferLater(self.clock, 0.05)

    async def notify_admin(self, _event: Any) -> None:
        """Mail the administrators, taking 20 ms."""
        await self.task.deferLater(self.clock, 0.02)

    def audit(self, event: Any) -> None:
        """Write an audit line."""


# Name the handlers as the tutorial's page would, not after this extension's module.
for _method in vars(UserHandlers).values():
    if callable(_method):
        _method.__module__ = "tutorial"


def _interfaces_rst() -> str:
    """Document the zope interfaces, which autodoc cannot: ``py:class`` entries by hand."""
    import inspect

    import twisted_event_dispatcher
    from twisted_event_dispatcher import interfaces

    out = []
    for name in interfaces.__all__:
        interface = getattr(interfaces, name)
        out += [f".. py:class:: {name}", "   :module: twisted_event_dispatcher", ""]
        out += ["   " + line for line in inspect.cleandoc(interface.__doc__ or "").splitlines()]
        out.append("")
        for member_name in sorted(interface.names()):
            member = interface[member_name]
            signature = getattr(member, "getSignatureString", None)
            if signature is None:
                out.append(f"   .. py:attribute:: {member_name}")
            else:
                out.append(f"   .. py:method:: {member_name}{signature()}")
            out.append("")
            out += ["      " + line for line in inspect.cleandoc(member.getDoc()).splitlines()]
            out.append("")
    if not set(interfaces.__all__) <= set(twisted_event_dispatcher.__all__):
        raise RuntimeError("an interface is not exported by the package")
    return "\n".join(out) + "\n"


def _cli_help(*argv: str) -> str:
    from twisted_event_dispatcher._cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main([*argv, "--help"])
    return out.getvalue()


def _schema_table() -> str:
    from twisted_event_dispatcher.tracing import COMMON_KEYS, EVENTS

    rows = [
        "| event | level | keys | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for spec in EVENTS.values():
        keys = ", ".join(f"`{key}`" for key in spec.keys)
        optional = getattr(spec, "optional_keys", ())
        if optional:
            keys += "; sometimes " + ", ".join(f"`{key}`" for key in optional)
        description = " ".join(spec.description.split()).replace("|", "\\|")
        rows.append(f"| `{spec.event}` | {spec.level} | {keys} | {description} |")
    common = ", ".join(f"`{key}`" for key in COMMON_KEYS)
    return f"Every record carries {common}.\n\n" + "\n".join(rows) + "\n"


def generate(out: Path) -> None:
    """Write every generated file into *out*."""
    from collections import namedtuple

    from twisted_event_dispatcher import viz
    from twisted_event_dispatcher.testing import fire_and_settle
    from twisted_event_dispatcher.tracing import configure_tracing, format_tree, read_runs

    out.mkdir(parents=True, exist_ok=True)
    dispatcher, _ = _tutorial_dispatcher()
    user_event = namedtuple("UserEvent", ("event_type", "user", "role", "other_data"))  # noqa: PYI024
    trace_path = out / "tutorial-trace.jsonl"
    trace_path.unlink(missing_ok=True)
    with configure_tracing(trace_path, forward=False):
        event = user_event("user_created", "susan", "admin", "4567")
        run = fire_and_settle(
            dispatcher, event, event_type=event.event_type, user=event.user, role=event.role
        )
    (traced,) = read_runs(trace_path)
    viz.write(viz.topology(dispatcher), out / "tutorial-topology.svg")
    viz.write(
        viz.topology(dispatcher, details={"event_type": "user_created", "role": "admin"}),
        out / "tutorial-topology-admin.svg",
    )
    viz.write(viz.run_machine(dispatcher), out / "tutorial-run-machine.svg")
    viz.write(viz.run_trace(traced), out / "tutorial-run.svg")
    (out / "tutorial-trace.txt").write_text(
        # On a Clock, the records' wall-clock timestamps would all say +0.0 ms.
        "\n".join(format_tree(traced, offsets=False)) + "\n",
        encoding="utf-8",
    )
    first = trace_path.read_text(encoding="utf-8").splitlines()
    (out / "tutorial-trace-head.jsonl").write_text("\n".join(first[:4]) + "\n", encoding="utf-8")
    if run.status != "completed":
        raise RuntimeError(f"the tutorial's run ended {run.status}")
    (out / "trace-schema.md").write_text(_schema_table(), encoding="utf-8")
    (out / "interfaces.rst").write_text(_interfaces_rst(), encoding="utf-8")
    for name, argv in {
        "main": (),
        "diagram": ("diagram",),
        "trace": ("trace",),
        "stats": ("stats",),
    }.items():
        (out / f"cli-{name}.txt").write_text(_cli_help(*argv), encoding="utf-8")


def _on_builder_inited(app: Sphinx) -> None:
    generate(Path(app.srcdir) / "_generated")


def _attribute_doc(fullname: str) -> list[str]:
    """Find the ``#:`` or string doc-comment of a public package's re-exported data.

    autodoc reads doc-comments only in the module it documents; our data are
    defined in private modules (``tracing._schema``) and re-exported, so look
    there.
    """
    import importlib
    import pkgutil

    from sphinx.pycode import ModuleAnalyzer

    package_name, _, name = fullname.rpartition(".")
    try:
        package = importlib.import_module(package_name)
    except ImportError:
        return []
    private = [
        info.name
        for info in pkgutil.walk_packages(getattr(package, "__path__", []), f"{package_name}.")
        if any(part.startswith("_") for part in info.name.split("."))
    ]
    for module_name in private:
        try:
            analyzer = ModuleAnalyzer.for_module(module_name)
            docs = analyzer.find_attr_docs()
        except Exception:  # noqa: BLE001, S112 -- a module without source: look elsewhere
            continue
        if ("", name) in docs:
            return list(docs["", name])
    return []


def _fill_data_docs(
    _app: Sphinx, what: str, name: str, obj: object, _options: Any, lines: list[str]
) -> None:
    if what in {"data", "attribute"}:
        found = _attribute_doc(name)
        type_doc = getattr(type(obj), "__doc__", None)
        if found or (isinstance(type_doc, str) and lines == type_doc.splitlines()):
            lines[:] = found


# The modules the API reference documents, and where a name may be documented instead.
_DOCUMENTED = (
    "twisted_event_dispatcher",
    "twisted_event_dispatcher.testing",
    "twisted_event_dispatcher.tracing",
    "twisted_event_dispatcher.typing",
    "twisted_event_dispatcher.viz",
)
_ELSEWHERE = {"twisted_event_dispatcher.HandlerId": "twisted_event_dispatcher.typing.HandlerId"}


def _check_every_public_name(_app: Sphinx, env: Any) -> None:
    """Warn (an error under ``-W``) about a public name the API reference leaves out."""
    import importlib

    from sphinx.util import logging

    objects = env.get_domain("py").objects
    log = logging.getLogger(__name__)
    for module_name in _DOCUMENTED:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            fullname = f"{module_name}.{name}"
            if fullname not in objects and _ELSEWHERE.get(fullname) not in objects:
                log.warning("the API reference does not document %s", fullname)


def _plain_data_docs(app: Sphinx) -> None:
    """Keep napoleon off data docstrings: it reads "A handler: called with..." as a type."""
    listeners = app.events.listeners.get("autodoc-process-docstring", [])
    for index, listener in enumerate(listeners):
        handler = listener.handler
        if getattr(handler, "__module__", "") != "sphinx.ext.napoleon":
            continue

        def wrapped(  # noqa: PLR0917 -- the signature of autodoc-process-docstring
            app: Sphinx,
            what: str,
            name: str,
            obj: object,
            options: Any,
            lines: list[str],
            _handler: Any = handler,
        ) -> None:
            if what not in {"data", "attribute"}:
                _handler(app, what, name, obj, options, lines)

        listeners[index] = listener._replace(handler=wrapped)


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the generator with Sphinx."""
    app.connect("builder-inited", _on_builder_inited)
    app.connect("autodoc-process-docstring", _fill_data_docs, priority=100)
    app.connect("builder-inited", _plain_data_docs)
    app.connect("env-check-consistency", _check_every_public_name)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
