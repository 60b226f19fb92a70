"""`swarm --help` without typer or rich: the root help drawn from the command table, the same
text, layout and colours typer's rich help draws (a test compares the two at every width from
:data:`MIN_WIDTH` up, plain and coloured).

typer and rich cost the root help about ten times the interpreter's own start; this module
costs nothing but ``re``. :func:`console` declines (returns None) whenever the output would
depend on something it does not reproduce (an environment that forces or tunes rich's
terminal, a terminal narrower than :data:`MIN_WIDTH`, Windows); the typer app answers then.
"""

from __future__ import annotations

import itertools
import os
import re
import sys

from swarm.cli.commands import COMMAND_ORDER, HELP_HELP, LAZY_COMMANDS, ROOT_HELP, VERSION_HELP

TYPE_CHECKING = False  # as typing's: typing is a tenth of this help's import time
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TextIO

MIN_WIDTH = 44
"""Below this width rich wraps the usage line: the typer app draws the help then."""
RICH_ENVIRONMENT = (
    "TERMINAL_WIDTH",
    "FORCE_COLOR",
    "PY_COLORS",
    "GITHUB_ACTIONS",
    "_TYPER_FORCE_DISABLE_TERMINAL",
    "NO_COLOR",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "JUPYTER_COLUMNS",
    "JUPYTER_LINES",
)
"""Variables by which typer or rich change how help is drawn: with any of them set, typer draws."""
USAGE = "swarm [OPTIONS] COMMAND [ARGS]..."
OPTIONS = (("--version", "", VERSION_HELP), ("--help", "-h", HELP_HELP))
OPTION_COLUMNS = (10, 4, 2, 2, 2)
"""rich's widths of the options table's fixed columns (long, short, negative long and short,
type), each with its padding: the help column takes the rest of the line."""

BOLD, DIM, RESET = "\x1b[1m", "\x1b[2m", "\x1b[0m"
CYAN, GREEN, YELLOW = "\x1b[1;36m", "\x1b[1;32m", "\x1b[1;33m"
_SWITCH = re.compile(r"(^|\W)(?P<switch>\-\w+)(?![a-zA-Z0-9])")
_OPTION = re.compile(r"(^|\W)(?P<option>\-\-[\w\-]+)(?![a-zA-Z0-9])")


class Console:
    """Where the help goes: its width, and whether it is coloured (a terminal)."""

    __slots__ = ("color", "width")

    def __init__(self, width: int, color: bool) -> None:
        self.width = width
        self.color = color


DRAWN_FOR = ("rich-15.0.0", "typer-0.29.2", "click-8.5.1")
"""The versions whose help this module draws byte for byte: those of ``constraints.txt`` (a
test keeps them equal). With any other installed, the typer app draws the help itself."""


def drawn_for_installed() -> bool:
    """Whether the installed rich, typer and click are :data:`DRAWN_FOR`'s, read from the
    ``.dist-info`` folder beside the first package of each name on ``sys.path`` (no import)."""
    for dist in DRAWN_FOR:
        name = dist.split("-", 1)[0]
        for entry in sys.path:
            folder = entry or "."
            if os.path.isdir(os.path.join(folder, name)):
                if not os.path.isdir(os.path.join(folder, f"{dist}.dist-info")):
                    return False
                break
        else:
            return False
    return True


def console(stream: TextIO = sys.stdout) -> Console | None:
    """The console rich would draw on for ``stream``, or None where this module would not
    draw exactly what rich does."""
    if sys.platform == "win32" or any(name in os.environ for name in RICH_ENVIRONMENT):
        return None
    if not drawn_for_installed():
        return None
    if os.environ.get("TERM", "").lower() in ("dumb", "unknown"):
        return None
    width = _terminal_width()
    if width < MIN_WIDTH:
        return None
    try:
        color = stream.isatty()
    except (AttributeError, ValueError):
        return None
    return Console(width, color)


def _terminal_width() -> int:
    """rich's rule: ``$COLUMNS``, else the first of stdin, stdout, stderr that is a terminal,
    else 80."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        return int(columns)  # even 0, which rich takes as given (and this module declines)
    for fd in (0, 1, 2):
        try:
            return os.get_terminal_size(fd).columns or 80
        except (AttributeError, ValueError, OSError):
            continue
    return 80


def render(out: Console) -> str:
    """The root help, as typer's rich help prints it on ``out``."""
    width = out.width
    paint = _painter(out.color)
    blank = " " * width
    usage_pad = " " * (width - 2 - len("Usage: ") - len(USAGE))
    lines = [
        paint(BOLD, blank),
        paint(BOLD, " ")
        + paint(YELLOW, "Usage: ")
        + paint(BOLD, USAGE)
        + paint(BOLD, usage_pad)
        + paint(BOLD, " "),
        paint(BOLD, blank),
    ]
    lines += [f" {line:<{width - 2}} " for line in wrap(ROOT_HELP, width - 2)]
    lines.append(blank)
    lines += _panel("Options", _option_rows(width - 4, paint), width, paint)
    lines += _panel("Commands", _command_rows(width - 4, paint), width, paint)
    return "\n".join(lines) + "\n\n"


if TYPE_CHECKING:
    _Paint = Callable[[str, str], str]
    """Text in a style (an ANSI code) on a coloured console, as it is on a plain one."""


def _painter(color: bool) -> _Paint:
    def paint(style: str, text: str) -> str:
        return f"{style}{text}{RESET}" if color and text else text

    return paint


def _panel(title: str, rows: list[str], width: int, paint: _Paint) -> list[str]:
    rule = "─" * (width - 5 - len(title) - 1)
    top = paint(DIM, "╭─") + paint(DIM, f" {title} ") + paint(DIM, rule) + paint(DIM, "─╮")
    side = paint(DIM, "│")
    bottom = paint(DIM, "╰" + "─" * (width - 2) + "╯")
    return [top, *(f"{side} {row} {side}" for row in rows), bottom]


def _option_rows(inner: int, paint: _Paint) -> list[str]:
    fixed = sum(OPTION_COLUMNS)
    help_width = inner - fixed - 1
    rows = []
    for long, short, text in OPTIONS:
        head = (
            _highlight(long, paint)
            + " " * (OPTION_COLUMNS[0] - len(long) + 1)
            + _highlight(short, paint)
            + " " * (fixed - OPTION_COLUMNS[0] - 1 - len(short))
        )
        for i, line in enumerate(wrap(text, help_width)):
            lead = head if i == 0 else " " * fixed
            rows.append(f"{lead} {line}{' ' * (help_width - len(line))}")
    return rows


def _command_rows(inner: int, paint: _Paint) -> list[str]:
    name_width = max(len(name) for name in LAZY_COMMANDS)
    text_width = inner - name_width - 2
    rows = []
    for name in COMMAND_ORDER:
        summary = LAZY_COMMANDS[name][1]
        for i, line in enumerate(wrap(summary, text_width)):
            if i == 0:
                lead = paint(CYAN, name.ljust(name_width)) + paint(CYAN, " ")
            else:
                lead = paint(CYAN, " " * (name_width + 1))
            pad = " " * (text_width - len(line))
            rows.append(f"{lead} {_highlight(line, paint)}{pad}")
    return rows


def _highlight(text: str, paint: _Paint) -> str:
    """typer's option highlighter: ``--long`` bold cyan, ``-s`` bold green. The two patterns
    overlap on a long option (``-`` then ``-long``), which rich draws as two segments."""
    styles: list[str | None] = [None] * len(text)
    cuts = {0, len(text)}
    for pattern, group, style in ((_SWITCH, "switch", GREEN), (_OPTION, "option", CYAN)):
        for match in pattern.finditer(text):
            start, end = match.span(group)
            styles[start:end] = [style] * (end - start)
            cuts |= {start, end}
    bounds = sorted(cuts)
    parts = []
    for start, end in itertools.pairwise(bounds):
        painted = styles[start]
        parts.append(text[start:end] if painted is None else paint(painted, text[start:end]))
    return "".join(parts)


def wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap as rich's: words never split unless longer than a line."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if len(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        while len(word) > width:
            lines.append(word[:width])
            word = word[width:]
        line = word
    if line or not lines:
        lines.append(line)
    return lines
