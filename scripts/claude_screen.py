"""Reading real Claude Code screens (`tmux capture-pane -p` text) for the scripts that drive it:
capture-screens and measure-enter-gap (which loads capture-screens).

Covers Claude Code 1.0.128 to 2.1.330: the bottom structure (the prompt box between two rules
in 2.x, the ╭─╮ box of 1.0.x / 2.0.x) and what follows it, the menu of a dialog (numbered or
not), the footer's permission mode, the busy and idle footers, the shell prompt back after an
exit. Standard library only.
"""

from __future__ import annotations

import re
from typing import Callable

RULE = "\u2500"
CURSOR = "\u276f"


def lines_of(screen: str) -> list[str]:
    return screen.rstrip("\n").split("\n")


def last_line(screen: str) -> str:
    rows = [l.rstrip() for l in lines_of(screen) if l.strip()]
    return rows[-1] if rows else ""


def is_rule(line: str) -> bool:
    s = line.strip()
    return len(s) >= 20 and set(s) == {RULE}


def is_box_top(line: str) -> bool:
    s = line.strip()
    return len(s) >= 20 and s.startswith("\u256d") and s.endswith("\u256e")


def structure(rows: list[str]) -> int | None:
    """Index of the top of the bottom structure: the upper rule of a 2.x
    prompt box, the last rule, or the last ╭─╮ box top (1.0.x / 2.0.x)."""
    idx = [i for i, l in enumerate(rows) if is_rule(l) or is_box_top(l)]
    if not idx:
        return None
    last = idx[-1]
    if len(idx) >= 2 and is_rule(rows[last]) and is_rule(rows[idx[-2]]) and last - idx[-2] <= 6:
        return idx[-2]
    return last


def bottom(screen: str) -> str:
    """The bottom structure and what follows it (plus 3 lines above, for a
    spinner), or the last 12 lines when there is none."""
    rows = lines_of(screen)
    start = structure(rows)
    if start is None:
        start = max(0, len(rows) - 12)
    return "\n".join(rows[max(0, start - 3) :])


def menu(screen: str) -> list[tuple[str, bool]]:
    """(label, selected) of the menu in the bottom region: the numbered lines, or
    for unnumbered menus the cursor line and its aligned neighbours."""
    rows = lines_of(screen)
    top = structure(rows)
    region = rows[top + 1 :] if top is not None else rows
    numbered = []
    for line in region:
        m = re.match(r"^[\s\u2502]*(" + CURSOR + r"|>)?\s*(\d+)\.\s+(\S.*?)[\s\u2502]*$", line)
        if m:
            numbered.append((m.group(3), bool(m.group(1))))
    if numbered:
        return numbered
    cur = next((i for i, l in enumerate(region) if l.lstrip(" \u2502").startswith(CURSOR)), None)
    if cur is None:
        return []
    col = region[cur].index(CURSOR) + 1
    while col < len(region[cur]) and region[cur][col] == " ":
        col += 1
    opts = []
    for i, line in enumerate(region):
        text = line.rstrip(" \u2502")
        if i == cur:
            opts.append((text[col:].strip(), True))
        elif len(text) > col and text[:col].strip(" \u2502") == "" and text[col] != " ":
            opts.append((text[col:].strip(), False))
    return opts


MODES = {
    "accept edits on": "accept-edits",
    "plan mode on": "plan",
    "auto mode on": "auto",
    "manual mode on": "manual",
    "bypass permissions on": "bypass-permissions",
}


def footer_of(screen: str) -> str:
    """The lines below the last rule or box bottom."""
    rows = lines_of(screen)
    idx = [i for i, l in enumerate(rows) if is_rule(l) or l.strip().startswith("\u2570")]
    return "\n".join(rows[idx[-1] + 1 :]) if idx else ""


def mode_of(screen: str) -> str:
    """The permission mode named in the footer, "default" when none."""
    footer = footer_of(screen)
    return next((name for text, name in MODES.items() if text in footer), "default")


def has(*needles: str) -> Callable[[str], bool]:
    return lambda s: all(n in bottom(s) for n in needles)


def anywhere(*needles: str) -> Callable[[str], bool]:
    return lambda s: all(n in s for n in needles)


SPINNER = re.compile(r"^\s*[^\w\s\u25cf\u276f\u23bf>\u2502]\s+\w[^\n]*\u2026")
# Idle footers; at 80 columns 2.0.77 wraps "? for shortcuts" over two lines.
IDLE_FOOTERS = ("? for", "shift+tab", "again to exit", "mode on", "edits on", "permissions on")


def busy(s: str) -> bool:
    """The busy footer, or a spinner line ("✢ Pondering…") just above the prompt box."""
    b = bottom(s)
    if "esc to interrupt" in b:
        return True
    rows = lines_of(s)
    top = structure(rows)
    if top is None:
        return False
    above = [l for l in rows[:top] if l.strip()][-6:]
    return any(SPINNER.match(l) for l in above)


def idle(s: str) -> bool:
    return any(f in bottom(s) for f in IDLE_FOOTERS) and not busy(s)


def shell_back(s: str) -> bool:
    return last_line(s).endswith("$")
