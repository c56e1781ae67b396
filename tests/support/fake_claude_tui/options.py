"""The stand-in's command line and its FAKE_CLAUDE_* environment variables (command line wins).

The options are listed in tests/support/fake_claude.py's usage text; unknown arguments (every
other claude argument) are accepted, and recorded by the "start" log event.
"""

from __future__ import annotations

import argparse
import os

VERSION_197 = "2.1.197"
VERSION_330 = "2.1.330"  # with --unnumbered
DEFAULT_FLOW = "trust,mcp_approval"


def version(opts):
    """The Claude Code version the stand-in draws and reports: 2.1.330 with --unnumbered."""
    return VERSION_330 if opts.unnumbered else VERSION_197


def env_default(name, fallback):
    """$name, or `fallback` when it is unset or empty."""
    v = os.environ.get(name)
    return v if v not in (None, "") else fallback


class _FixedWidthFormatter(argparse.HelpFormatter):
    """argparse's formatter at a fixed width. The default width comes from
    shutil.get_terminal_size(), and importing shutil (with zlib, bz2 and lzma) costs a tenth of
    the stand-in's start; there is no --help (add_help=False), only the usage line of an error."""

    def __init__(self, prog):
        super().__init__(prog, width=100)


def parse_args(argv):
    """The options from `argv` (without the program name) and the environment.

    Bad values exit with argparse's usage error (status 2)."""
    p = argparse.ArgumentParser(
        prog="fake_claude.py", allow_abbrev=False, add_help=False, formatter_class=_FixedWidthFormatter
    )
    # FAKE_CLAUDE_FLOW set but empty (or "none") means: no boot dialogs, straight to the prompt
    p.add_argument("--flow", default=os.environ.get("FAKE_CLAUDE_FLOW", DEFAULT_FLOW))
    p.add_argument("--log", default=env_default("FAKE_CLAUDE_LOG", None))
    p.add_argument("--boot-delay", type=float, default=float(env_default("FAKE_CLAUDE_BOOT_DELAY", "0.3")))
    p.add_argument("--busy-seconds", type=float, default=float(env_default("FAKE_CLAUDE_BUSY_SECONDS", "1.0")))
    p.add_argument("--enter-window-ms", type=float, default=float(env_default("FAKE_CLAUDE_ENTER_WINDOW_MS", "15")))
    p.add_argument("--burst-chars", type=int, default=int(env_default("FAKE_CLAUDE_BURST_CHARS", "80")))
    p.add_argument("--mcp-name", default=env_default("FAKE_CLAUDE_MCP_NAME", "intercomm"))
    p.add_argument("--redraw-ms", type=float, default=float(env_default("FAKE_CLAUDE_REDRAW_MS", "0")))
    p.add_argument("--mcp-server", default=env_default("FAKE_CLAUDE_MCP_SERVER", None))
    p.add_argument("--mcp-delay", type=float, default=float(env_default("FAKE_CLAUDE_MCP_DELAY", "0")))
    p.add_argument(
        "--mcp-early",
        action="store_true",
        default=env_default("FAKE_CLAUDE_MCP_EARLY", "0") not in ("0", "false", "no"),
    )
    p.add_argument(
        "--unnumbered",
        action="store_true",
        default=env_default("FAKE_CLAUDE_UNNUMBERED", "0") not in ("0", "false", "no"),
    )
    opts, _rest = p.parse_known_args(argv)
    if opts.log:
        # "{id}" in the log path: one log per spawned worker from one claude_cmd
        opts.log = opts.log.replace("{id}", os.environ.get("INTERCOMM_WORKER_ID") or "unknown")
    return opts
