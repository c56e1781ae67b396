#!/usr/bin/env python3
"""A stand-in for the Claude Code 2.1.197 terminal UI, for tests of intercomm's tmux layer.

It draws the screens of the real TUI (boot dialogs, the prompt box, the busy spinner, the
Bash permission prompt) closely enough that a classifier written for real `capture-pane -p`
output reads them the same way, reacts to keys the way 2.1.197 does (or 2.1.330 with
--unnumbered), and records every byte it reads in a JSON-lines log.

Usage:
  fake_claude.py [--flow trust,mcp_approval] [--log FILE] [--boot-delay S] [--unnumbered]
                 [--redraw-ms MS] [--busy-seconds S] [--enter-window-ms MS] [--burst-chars N]
                 [--mcp-name NAME] [--mcp-server CMD] [--mcp-delay S] [--mcp-early]
                 [any other claude arguments: accepted and recorded]

A "{id}" in the --log path is replaced by $INTERCOMM_WORKER_ID (one log per spawned worker).
Every option can also come from the environment (command line wins):
  FAKE_CLAUDE_FLOW, FAKE_CLAUDE_LOG, FAKE_CLAUDE_BOOT_DELAY, FAKE_CLAUDE_UNNUMBERED=1,
  FAKE_CLAUDE_REDRAW_MS, FAKE_CLAUDE_MCP_SERVER, FAKE_CLAUDE_MCP_DELAY, FAKE_CLAUDE_MCP_EARLY=1.
  FAKE_CLAUDE_BUSY_SECONDS, FAKE_CLAUDE_ENTER_WINDOW_MS, FAKE_CLAUDE_BURST_CHARS,
  FAKE_CLAUDE_MCP_NAME.

--boot-delay S: the first screen after the blank boot shows S seconds after the process started
(its Python start-up included, as a real TUI's boot counts from its exec; the "start" log event
gives the process's age then).

--redraw-ms MS: each start-up dialog is drawn again MS ms after it first shows, with the cursor
back on its default, as 2.1.330 does (scripts/capture-screens --scenarios redraw); arrows before
then move the cursor, Enter and digits before then are lost (logged as "lost_key").

--mcp-server CMD: the MCP server NAME's command line (split like a shell would; nothing runs
it through a shell). Like Claude Code, the stand-in starts it once it may (the MCP approval
answered "Use this…", or at the prompt when the flow has no approval), --mcp-delay S later, in
the background while the UI goes on: initialize, notifications/initialized, tools/list; it logs
"mcp_connected" (with the tool count) or "mcp_failed", and closes the server's stdin at exit.
With --mcp-early it starts the server as soon as it boots and shows its first dialog only once
the handshake has ended (a user-scope or plugin server, which needs no approval, connected
before the prompt shows whatever the machine's load). The server's stderr goes to <log>.mcp.err.

Prompt scripting: a submitted prompt containing "RUNBASH <cmd>" asks for Bash permission
for <cmd> after the busy phase; approving runs `sh -c <cmd>` in the working directory.
"/exit" prints the resume hint and exits 0. Anything else gets the reply "● ok".

Standard library only. This is a test fixture: it executes the commands it is told to.
This file is only the entry point, kept small because a script is compiled on every start: the
stand-in lives in the package fake_claude_tui/ beside it (one concept per module, see its
__init__), which loads from cached bytecode.
"""

import sys

# The package's bytecode is cached even under PYTHONDONTWRITEBYTECODE (which some containers
# set): otherwise every start compiles it all again (__pycache__ is ignored by git).
sys.dont_write_bytecode = False

from fake_claude_tui.app import main  # noqa: E402 - after the bytecode switch

if __name__ == "__main__":
    sys.exit(main())
