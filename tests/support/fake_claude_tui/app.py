"""The stand-in's main loop and its entry, main(): see tests/support/fake_claude.py for usage.

One thread: a select() over stdin and a signal wake-up pipe, with a timeout to the nearest
deadline (the boot's end, a dialog's redraw, the busy phase's end, a lone Esc, the Ctrl-C and
Ctrl-D hints). The MCP client (mcp.py) runs on a thread of its own.
"""

from __future__ import annotations

import codecs
import fcntl
import os
import select
import signal
import sys
import time

from .dialogs import DIALOGS, Dialogs
from .eventlog import EventLog
from .keys import Keys
from .options import parse_args, version
from .screens import Screens
from .terminal import Terminal
from .turns import Turns


class FakeClaude(Screens, Dialogs, Turns, Keys):
    """The stand-in TUI: its state, the main loop and the exits; the mixins draw (Screens),
    step through the dialogs (Dialogs), handle prompts (Turns) and read keys (Keys)."""

    def __init__(self, opts, argv):
        self.opts = opts
        self.argv = argv
        self.numbered = not opts.unnumbered
        self.version = version(opts)
        self.flow = [d for d in (s.strip() for s in opts.flow.split(",")) if d and d != "none"]
        for d in self.flow:
            if d not in DIALOGS:
                raise SystemExit(f"fake_claude: unknown dialog {d!r} in --flow (know {', '.join(DIALOGS)})")
        self.cwd = os.getcwd()
        self.log = EventLog(opts.log)

        self.mode = self._initial_mode(argv)
        self.bypass_available = self.mode == "bypassPermissions" or "--allow-dangerously-skip-permissions" in argv

        self.term = Terminal(sys.stdin.fileno(), sys.stdout.fileno())

        self.state = None
        self.menu = None
        self.flow_index = -1
        self.boot_until = None

        # prompt box
        self.buffer = ""
        self.transcript = []  # list of blocks; each block is a list of lines
        self.queue = []  # prompts submitted while busy
        self.turn = None  # what the busy phase is doing
        self.busy_until = None
        self.busy_started = None
        self.allowed_prefixes = set()
        self.permission = None  # {"cmd":..., "block": index into transcript}
        self.ctrl_c_until = None
        self.ctrl_d_until = None
        self.redraw_at = None  # when the shown start-up dialog is drawn again (--redraw-ms)
        self.mcp_allowed = "mcp_approval" not in self.flow  # approved already, or asked at start-up
        self.mcp = None  # the McpClient, once started
        # Its code (subprocess, threading) loads now, in the boot, as a real TUI has its MCP
        # client loaded before it draws anything: loading it at the approval delayed the prompt.
        self.mcp_client = None
        if opts.mcp_server:
            from .mcp import McpClient

            self.mcp_client = McpClient
        self.redraw_default = 0

        # input parsing
        self.pending = b""  # incomplete escape sequence carried between reads
        self.esc_deadline = None
        self.in_paste = False
        self.paste_bytes = b""
        self.last_paste_end = -1e9
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")

        self.exit_code = None
        self.exit_reason = None
        self.keep_screen_message = None
        self.last_frame = []
        self.signals = []

    def now(self):
        return time.monotonic()

    @staticmethod
    def _initial_mode(argv):
        mode = "default"
        for i, a in enumerate(argv):
            if a in ("--dangerously-skip-permissions",):
                mode = "bypassPermissions"
            elif a == "--permission-mode" and i + 1 < len(argv):
                mode = argv[i + 1]
            elif a.startswith("--permission-mode="):
                mode = a.split("=", 1)[1]
        return mode

    # ------------------------------------------------------------------ MCP server

    def start_mcp(self):
        """Start the --mcp-server connection, once (a no-op without one)."""
        if self.mcp_client is None or self.mcp is not None:
            return
        err_path = self.opts.log + ".mcp.err" if self.opts.log else None
        self.mcp = self.mcp_client(
            self.opts.mcp_name, self.opts.mcp_server, self.opts.mcp_delay, err_path, self.cwd, self.version, self.log
        )
        self.mcp.start()

    # ------------------------------------------------------------------ exits

    def exit_keep_screen(self, code, reason, message):
        """Leave the dialog text on screen, print `message` under it, exit."""
        self.exit_code = code
        self.exit_reason = reason
        self.keep_screen_message = message

    def finish(self):
        """Restore the terminal and print whatever the exit path wants printed."""
        if self.mcp is not None:
            self.mcp.stop()
        self.cursor_below_frame()
        self.term.restore()
        if self.keep_screen_message:
            self.term.write(self.keep_screen_message.replace("\n", "\r\n") + "\r\n")
        self.log("exit", reason=self.exit_reason, code=self.exit_code)

    def deadlines(self):
        deadlines = (self.boot_until, self.busy_until, self.esc_deadline, self.ctrl_c_until, self.ctrl_d_until, self.redraw_at)
        return [d for d in deadlines if d is not None]

    def run(self):
        age = process_age()
        self.log(
            "start",
            wall=round(time.time(), 6),
            age=round(age, 6),
            argv=self.argv,
            env={k: v for k, v in os.environ.items() if k.startswith("INTERCOMM_") or k == "IS_SANDBOX"},
            cwd=self.cwd,
            version=self.version,
            flow=self.flow,
        )
        wake_r, wake_w = os.pipe()
        for fd in (wake_r, wake_w):
            fl = fcntl.fcntl(fd, fcntl.F_GETFL)
            fcntl.fcntl(fd, fcntl.F_SETFL, fl | os.O_NONBLOCK)
        signal.set_wakeup_fd(wake_w)
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGWINCH, signal.SIGINT, signal.SIGQUIT):
            signal.signal(sig, lambda s, f: self.signals.append(s))

        self.term.setup()
        self.set_state("boot")
        # The boot counts from the process's start, its Python start-up included,
        # as a real TUI's boot counts from its exec.
        self.boot_until = self.now() - age + max(0.0, self.opts.boot_delay)
        try:
            self.loop(wake_r)
        finally:
            self.finish()
        return self.exit_code or 0

    def handle_signals(self):
        sigs, self.signals = self.signals, []
        for s in sigs:
            if s == signal.SIGWINCH:
                self.draw()
            elif s in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
                name = signal.Signals(s).name
                self.exit_code = 128 + s
                self.exit_reason = name
                return
            # SIGINT (not raw mode, e.g. no tty) counts as a Ctrl-C key
            elif s == signal.SIGINT:
                self.on_control(0x03)

    def loop(self, wake_r):
        stdin_open = True
        while self.exit_code is None:
            now = self.now()
            if self.boot_until is not None and now >= self.boot_until:
                self.boot_until = None
                if self.opts.mcp_early:
                    # Connected before the first dialog shows, however
                    # loaded the machine: the order the tests rely on.
                    self.start_mcp()
                    if self.mcp is not None:
                        self.mcp.wait(60)
                self.next_dialog()
                continue
            if self.redraw_at is not None and now >= self.redraw_at:
                self.guarded(self.redraw_dialog)
                continue
            if self.busy_until is not None and now >= self.busy_until:
                self.guarded(self.end_busy)
                continue
            if self.esc_deadline is not None and now >= self.esc_deadline:
                self.guarded(self.on_esc_timeout)
                continue
            if self.ctrl_c_until is not None and now >= self.ctrl_c_until:
                self.ctrl_c_until = None
                self.draw()
                continue
            if self.ctrl_d_until is not None and now >= self.ctrl_d_until:
                self.ctrl_d_until = None
                self.draw()
                continue
            dl = self.deadlines()
            timeout = max(0.0, min(dl) - now) if dl else None
            fds = [wake_r]
            # while booting, keys stay unread in the tty (the real TUI is not reading yet)
            if stdin_open and self.state not in (None, "boot"):
                fds.append(self.term.in_fd)
            try:
                ready, _, _ = select.select(fds, [], [], timeout)
            except InterruptedError:
                ready = []
            if wake_r in ready:
                try:
                    while os.read(wake_r, 512):
                        pass
                except OSError:
                    pass
            if self.signals:
                self.handle_signals()
                if self.exit_code is not None:
                    return
            if self.term.in_fd in ready:
                try:
                    data = os.read(self.term.in_fd, 65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    stdin_open = False
                    self.exit_code, self.exit_reason = 0, "eof"
                    return
                t = self.now()
                self.log("bytes", hex=data.hex())
                self.guarded(lambda: self.feed(data, t))

    def guarded(self, fn):
        """Run a handler; log and survive any bug rather than crash on odd input."""
        try:
            fn()
        except Exception:  # noqa: BLE001
            import traceback

            self.log("error", trace=traceback.format_exc())
            self.pending = b""
            self.in_paste = False
            try:
                self.draw()
            except Exception:  # noqa: BLE001
                pass


def process_age():
    """Seconds since this process started (/proc/self/stat field 22, in clock ticks
    since boot), rounded down to a tick so a boot counted from it is never early."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        started = (int(fields[19]) + 1) / tick
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError):
        return 0.0


def main():
    """Run the stand-in with sys.argv; returns its exit status (70 when it crashed)."""
    argv = sys.argv[1:]
    if "--version" in argv or "-v" in argv:
        opts = parse_args([a for a in argv if a not in ("--version", "-v")])
        print(f"{version(opts)} (Claude Code)")
        return 0
    opts = parse_args(argv)
    app = FakeClaude(opts, sys.argv)
    try:
        return app.run()
    except Exception:  # noqa: BLE001 - last resort: never leave the tty raw
        import traceback

        app.term.restore()
        app.log("exit", reason="crash", trace=traceback.format_exc())
        return 70
