"""Imports a command-line process can skip.

jsonschema (imported by nbformat, so by every job and template command) compiles some
40 Lark grammars when it finds the optional ``rfc3987_syntax`` package, only to check the
``iri`` / ``iri-reference`` string formats: about a second of CPU per ``mlops`` process.
Nothing here validates those formats (nbformat validates notebooks without format
checks), so the processes this package starts itself (the ``mlops`` command, the job
fork server) tell Python the package is absent; jsonschema then skips those two formats.
Never done on import of the library: a user's own process keeps whatever it has.
"""

from __future__ import annotations

import sys


def skip_iri_grammars() -> None:
    """Before nbformat is imported: make ``import rfc3987_syntax`` fail (no effect once
    it is loaded)."""
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
