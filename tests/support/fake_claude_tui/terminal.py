"""The stand-in's terminal: raw mode and bracketed paste on stdin, writes to stdout, its size."""

from __future__ import annotations

import os
import select
import termios
import tty


class Terminal:
    """stdin and stdout of the pane (either may be a pipe: then no raw mode, 120x40)."""

    def __init__(self, in_fd, out_fd):
        self.in_fd = in_fd
        self.out_fd = out_fd
        self.saved_tty = None

    def size(self):
        """(columns, rows) of the pane; 120x40 when stdout is no tty."""
        try:
            size = os.get_terminal_size(self.out_fd)
            cols, rows = size.columns, size.lines
        except OSError:
            cols, rows = 0, 0
        return (cols if cols > 0 else 120), (rows if rows > 0 else 40)

    def write(self, data):
        """Write all of `data` (str as UTF-8); gives up silently once the pane is gone."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        while data:
            try:
                n = os.write(self.out_fd, data)
            except BlockingIOError:
                select.select([], [self.out_fd], [], 0.5)
                continue
            except OSError:
                return  # the pane is gone
            data = data[n:]

    def setup(self):
        """Raw mode (keys typed during start-up stay queued), bracketed paste on, cursor hidden."""
        if os.isatty(self.in_fd):
            try:
                self.saved_tty = termios.tcgetattr(self.in_fd)
                tty.setraw(self.in_fd, termios.TCSANOW)  # keep keys typed during start-up
            except termios.error:
                self.saved_tty = None
        self.write("\x1b[?2004h\x1b[?25l")

    def restore(self):
        """Undo setup(): bracketed paste off, cursor shown, the tty's saved mode back."""
        self.write("\x1b[?2004l\x1b[?25h")
        if self.saved_tty is not None:
            try:
                termios.tcsetattr(self.in_fd, termios.TCSADRAIN, self.saved_tty)
            except termios.error:
                pass
            self.saved_tty = None
