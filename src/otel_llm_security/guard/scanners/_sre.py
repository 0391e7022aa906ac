"""Python's regex parser and compiler, under their names on every supported Python.

The pattern scanners read parse trees (scanners/literals.py, hyperscan_prefilter.py).
Python 3.11 moved ``sre_parse``/``sre_constants``/``sre_compile`` to ``re._parser`` /
``re._constants`` / ``re._compiler`` (the old names still import there, with a
DeprecationWarning); 3.10 has only the old names. Atomic groups and possessive
repeats exist from 3.11; on 3.10 their opcodes are stand-ins no parse tree contains.
"""

from __future__ import annotations

import types

try:
    from re import _compiler as compiler  # type: ignore[attr-defined]
    from re import _constants as constants  # type: ignore[attr-defined]
    from re import _parser as parser  # type: ignore[attr-defined]
except ImportError:  # Python 3.10
    import sre_compile as compiler  # type: ignore[no-redef]
    import sre_constants as constants  # type: ignore[no-redef]
    import sre_parse as parser  # type: ignore[no-redef]

# The opcodes and other constants, with the 3.11+ opcodes present on 3.10 too.
C = types.SimpleNamespace(**{name: getattr(constants, name) for name in dir(constants) if name.isupper()})
for _name in ("ATOMIC_GROUP", "POSSESSIVE_REPEAT"):
    if not hasattr(C, _name):
        setattr(C, _name, object())

__all__ = ["C", "compiler", "parser"]
