"""The stand-in Claude Code TUI run by tests/support/fake_claude.py (its usage text is there).

One concept per module:
  app       the main loop (deadlines, keys, signals) and the command line's entry, main()
  options   the command line and FAKE_CLAUDE_* environment variables
  eventlog  the JSON-lines log of what the stand-in read and did
  terminal  the tty: raw mode, bracketed paste, writes, the pane's size
  screens   drawing the screens of Claude Code 2.1.197 / 2.1.330
  dialogs   the screen states and the start-up dialogs (trust, MCP approval, ...)
  turns     submitted prompts: the busy phase, replies, the Bash permission prompt
  keys      the bytes read from the tty, parsed into keys, and what each key does
  mcp       the MCP client: starts the server and does Claude Code's handshake

Standard library only. The modules load from cached bytecode (__pycache__ beside them); those
only some runs need (subprocess, threading, traceback, the MCP client) are imported where used,
so a start imports no more than it runs.
"""
