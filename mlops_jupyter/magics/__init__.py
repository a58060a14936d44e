"""``%load_ext mlops_jupyter``: the ``%mlops`` line magic and ``%%mlops`` cell magic.

One :class:`MlopsMagics` class dispatches ``%mlops VERB ...`` to the verb registry
(:mod:`mlops_jupyter.magics.registry`); verb modules are imported on first use, so
loading the extension imports nothing heavy (no pandas, SQLAlchemy or scikit-learn).

A ``%%mlops track`` cell is rewritten by an input transformer into a first line that
starts the run, followed by the untouched body: the body then runs as an ordinary cell
(its last expression displays as ``Out[N]``, tracebacks point at ``Cell In[N], line L``
of the notebook, top-level ``await`` works) and the ``post_run_cell`` hook ends the run
with the status the cell earned. When the magic is called directly (``run_cell_magic``)
the body is executed by the magic itself, with the same run semantics.

Auto-loading: add ``c.InteractiveShellApp.extensions = ["mlops_jupyter"]`` to
``~/.ipython/profile_default/ipython_config.py`` (or ``ipython_kernel_config.py``).
"""

from __future__ import annotations

import re
import shlex
import sys
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from mlops_jupyter.magics import registry

__all__ = ["MlopsMagics", "dispatch", "load_ipython_extension", "unload_ipython_extension"]

_TRACK_CELL = re.compile(r"^%%mlops[ \t]+track(?:[ \t]+(?P<rest>.*))?$")


class _State:
    #: an exception raised by the user's own code in a directly-run tracked cell:
    #: the dispatcher re-raises it untouched instead of shortening it to one line
    user_error: BaseException | None = None


state = _State()


@magics_class
class MlopsMagics(Magics):
    """``%mlops VERB [ARGS]`` and ``%%mlops VERB [ARGS]`` (see ``%mlops help``)."""

    @line_cell_magic
    def mlops(self, line: str, cell: str | None = None) -> Any:
        """MLOps from the notebook: ``%mlops help`` lists the verbs."""
        __tracebackhide__ = True  # noqa: F841
        return dispatch(self.shell, line, cell)


def dispatch(shell: Any, line: str, cell: str | None = None) -> Any:
    """Parse ``line``, find the verb and run it; user errors become one-line UsageErrors."""
    __tracebackhide__ = True  # noqa: F841
    try:
        # like a shell: a word starting with '#' starts a comment (quote a literal '#')
        argv = shlex.split(line, comments=True, posix=True)
    except ValueError as e:
        raise UsageError(f"%mlops: cannot split arguments ({e}); quote values containing spaces") from None
    if not argv:
        return _help(shell, [], None)
    name, rest = argv[0], argv[1:]
    if name in ("help", "-h", "--help"):
        return _help(shell, rest, None)
    try:
        verb = registry.find(name)
    except Exception as e:  # noqa: BLE001 - a broken plug-in: one line, not a traceback
        raise UsageError(f"%mlops {name} is unavailable: {type(e).__name__}: {e}") from None
    if verb is None:
        known = ", ".join(sorted(registry.available()))
        raise UsageError(f"%mlops: unknown verb {name!r}; verbs: {known}, help (see %mlops help)")
    if "-h" in rest or "--help" in rest:
        return _help(shell, [name], None)
    if cell is not None and not verb.cell:
        raise UsageError(f"%%mlops {name} is not a cell magic; use it on one line: %mlops {name} ...")
    from mlops_jupyter.errors import MlopsError

    state.user_error = None
    try:
        return verb.handler(shell, rest, cell)
    except UsageError as e:
        if e is state.user_error or str(e).startswith("%"):
            raise
        raise UsageError(f"%mlops {name}: {e}") from None  # say which verb complained
    except MlopsError as e:
        if e is state.user_error:
            raise
        raise UsageError(f"%mlops {name}: {e}") from None
    finally:
        state.user_error = None


def _help(shell: Any, argv: list[str], cell: str | None) -> None:
    from mlops_jupyter.magics.help import help_text

    print(help_text(argv[0] if argv else None))


def _track_cell_transformer(lines: list[str]) -> list[str]:
    """``%%mlops track ARGS`` + body -> a line starting the run + the same body."""
    if not lines or not lines[0].startswith("%%mlops"):
        return lines
    m = _TRACK_CELL.match(lines[0].rstrip("\r\n"))
    if m is None:
        return lines
    args = "track --cell-begin " + (m.group("rest") or "").strip()
    return [f"get_ipython().run_line_magic('mlops', {args!r})\n", *lines[1:]]


def _show_ended(run: Any) -> None:
    """Listener: the card of a run the cell hooks just ended, under its cell."""
    from IPython.display import display

    display(run.store.get_run(run.id))


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics, the tracked-cell transformer and the cell hooks."""
    ipython.register_magics(MlopsMagics)
    cleanup = ipython.input_transformers_cleanup
    if _track_cell_transformer not in cleanup:
        cleanup.append(_track_cell_transformer)
    from mlops_jupyter.tracking import notebook

    notebook.install(ipython, _show_ended)


def unload_ipython_extension(ipython: Any) -> None:
    cleanup = ipython.input_transformers_cleanup
    if _track_cell_transformer in cleanup:
        cleanup.remove(_track_cell_transformer)
    nb = sys.modules.get("mlops_jupyter.tracking.notebook")
    if nb is not None:
        nb.uninstall(ipython)
    ipython.magics_manager.magics["line"].pop("mlops", None)
    ipython.magics_manager.magics["cell"].pop("mlops", None)
