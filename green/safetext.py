"""Record strings made safe to print: no terminal escape sequences, no control characters, no rich markup.

Records are written to be shared, and a recipe name, device name or file name in one may
hold ``\\x1b]0;TITLE\\x07`` (sets the terminal's title), ``\\x1b[2J`` (clears the screen) or
``[bold red]`` (restyles rich's output). Everything green prints from a record, a manifest
or a recipe goes through :func:`printable`; where rich parses markup, through :func:`markup`.
"""

from __future__ import annotations

import re

#: ESC sequences (CSI ``ESC [ ... final``, OSC ``ESC ] ... BEL|ST``, two-byte ``ESC x``), then any
#: remaining C0/C1 control character or DEL. Tabs and newlines become spaces: one field, one line.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?|\x9b[0-?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: object) -> str:
    """``text`` without escape sequences or control characters (tab and newline become a space)."""
    s = _ESCAPES.sub("", str(text))
    return _CONTROL.sub("", s.replace("\t", " ").replace("\n", " ").replace("\r", " "))


def markup(text: object) -> str:
    """:func:`printable`, with rich markup escaped so that ``[bold]`` prints as itself."""
    from rich.markup import escape

    return escape(printable(text))
