"""The stand-in's JSON-lines log (--log): one object per line, appended.

Each record is {"t": monotonic seconds, "pid": ..., "event": NAME, **fields}; the events are
"start", "screen", "bytes", "choice", "submit", "run", "mcp_connected", ... (the tests of
tests/support/fake_claude_test.py and tests/it read them).
"""

from __future__ import annotations

import json
import os
import time


class EventLog:
    """Appends events to the log file, or drops them when there is none; never raises.

    Called from the main loop and from the MCP client's thread: each record is one write(2) of
    one line to an O_APPEND file."""

    def __init__(self, path):
        self.fd = None
        if path:
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def __call__(self, event, **fields):
        if self.fd is None:
            return
        rec = {"t": round(time.monotonic(), 6), "pid": os.getpid(), "event": event}
        rec.update(fields)
        try:
            os.write(self.fd, (json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8", "replace"))
        except OSError:
            pass
