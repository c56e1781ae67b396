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
With --mcp-early it starts the server as soon as it boots, before any dialog (a user-scope or
plugin server, which needs no approval). The server's stderr goes to <log>.mcp.err.

Prompt scripting: a submitted prompt containing "RUNBASH <cmd>" asks for Bash permission
for <cmd> after the busy phase; approving runs `sh -c <cmd>` in the working directory.
"/exit" prints the resume hint and exits 0. Anything else gets the reply "● ok".

Standard library only. This is a test fixture: it executes the commands it is told to.
"""

from __future__ import annotations

import argparse
import codecs
import fcntl
import json
import os
import select
import shlex
import signal
import subprocess
import sys
import termios
import textwrap
import threading
import time
import traceback
import tty

VERSION_197 = "2.1.197"
VERSION_330 = "2.1.330"
RESUME_ID = "00000000-0000-0000-0000-000000000000"
DIALOGS = ("trust", "mcp_approval", "api_key", "bypass", "onboarding")
DEFAULT_FLOW = "trust,mcp_approval"

RULE_CHAR = "\u2500"  # ─
SELECT = "\u276f"  # ❯
NBSP = "\u00a0"
DOT = "\u00b7"  # ·
BULLET = "\u25cf"  # ●
ELBOW = "\u23bf"  # ⎿
ELLIPSIS = "\u2026"  # …

PASTE_START = b"\x1b[200~"
PASTE_END = b"\x1b[201~"

CTRL_C_WINDOW = 1.5  # seconds the "Press Ctrl-C again to exit" footer stays up
ESC_WAIT = 0.05  # a lone ESC at the end of a read becomes the Esc key after this long


class Menu:
    """A dialog menu: labels, the selected index, and what Esc picks."""

    def __init__(self, labels, selected=0, cancel=None, numbered=True):
        self.labels = list(labels)
        self.selected = selected
        self.cancel = cancel  # index chosen by Esc, or None: Esc does nothing
        self.numbered = numbered

    def lines(self, indent):
        out = []
        for i, label in enumerate(self.labels):
            marker = SELECT + " " if i == self.selected else "  "
            num = f"{i + 1}. " if self.numbered else ""
            out.append(" " * indent + marker + num + label)
        return out


def wrap(text, width, indent):
    """Word-wrap a paragraph the way Ink does inside a padded box."""
    width = max(10, width - 2 * indent)
    lines = textwrap.wrap(text, width=width, break_on_hyphens=False) or [""]
    return [" " * indent + line for line in lines]


class FakeClaude:
    def __init__(self, opts, argv):
        self.opts = opts
        self.argv = argv
        self.numbered = not opts.unnumbered
        self.version = VERSION_330 if opts.unnumbered else VERSION_197
        self.flow = [d for d in (s.strip() for s in opts.flow.split(",")) if d and d != "none"]
        for d in self.flow:
            if d not in DIALOGS:
                raise SystemExit(f"fake_claude: unknown dialog {d!r} in --flow (know {', '.join(DIALOGS)})")
        self.cwd = os.getcwd()
        self.t0 = time.monotonic()
        self.log_fd = None
        if opts.log:
            self.log_fd = os.open(opts.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

        self.mode = self._initial_mode(argv)
        self.bypass_available = self.mode == "bypassPermissions" or "--allow-dangerously-skip-permissions" in argv

        self.in_fd = sys.stdin.fileno()
        self.out_fd = sys.stdout.fileno()
        self.saved_tty = None

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
        self.mcp_proc = None
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

    # ------------------------------------------------------------------ logging

    def now(self):
        return time.monotonic()

    def log(self, event, **fields):
        if self.log_fd is None:
            return
        rec = {"t": round(self.now(), 6), "pid": os.getpid(), "event": event}
        rec.update(fields)
        try:
            os.write(self.log_fd, (json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8", "replace"))
        except OSError:
            pass

    # ------------------------------------------------------------------ setup

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

    def term_size(self):
        try:
            size = os.get_terminal_size(self.out_fd)
            cols, rows = size.columns, size.lines
        except OSError:
            cols, rows = 0, 0
        return (cols if cols > 0 else 120), (rows if rows > 0 else 40)

    def write(self, data):
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

    def setup_terminal(self):
        if os.isatty(self.in_fd):
            try:
                self.saved_tty = termios.tcgetattr(self.in_fd)
                tty.setraw(self.in_fd, termios.TCSANOW)  # keep keys typed during start-up
            except termios.error:
                self.saved_tty = None
        self.write("\x1b[?2004h\x1b[?25l")

    def restore_terminal(self):
        self.write("\x1b[?2004l\x1b[?25h")
        if self.saved_tty is not None:
            try:
                termios.tcsetattr(self.in_fd, termios.TCSADRAIN, self.saved_tty)
            except termios.error:
                pass
            self.saved_tty = None

    # ------------------------------------------------------------------ states

    def set_state(self, state, **extra):
        if state != self.state:
            self.state = state
            self.log("screen", state=state, **extra)
        self.draw()

    def next_dialog(self):
        self.flow_index += 1
        if self.flow_index >= len(self.flow):
            self.enter_ready()
            if self.mcp_allowed:
                self.start_mcp()
            return
        self.show_dialog(self.flow[self.flow_index])

    def show_dialog(self, name):
        n = self.numbered
        if name == "trust":
            # 2.1.330 preselects the safe option: "No, exit"
            self.menu = Menu(["Yes, I trust this folder", "No, exit"], selected=0 if n else 1, cancel=1, numbered=n)
        elif name == "mcp_approval":
            self.menu = Menu(
                [
                    "Use this MCP server",
                    "Use this and all future MCP servers in this project",
                    "Continue without using this MCP server",
                ],
                selected=0 if n else 2,
                cancel=2,
                numbered=n,
            )
        elif name == "api_key":
            self.menu = Menu(["Yes", "No (recommended)"], selected=1, cancel=1, numbered=n)
        elif name == "bypass":
            self.menu = Menu(["No, exit", "Yes, I accept"], selected=0, cancel=0, numbered=n)
        elif name == "onboarding":
            self.menu = Menu(
                [
                    "Dark mode",
                    "Light mode",
                    "Dark mode (colorblind-friendly)",
                    "Light mode (colorblind-friendly)",
                    "Dark mode (ANSI colors only)",
                    "Light mode (ANSI colors only)",
                ],
                selected=0,
                cancel=None,
                numbered=True,
            )
        elif name == "onboarding_security":
            self.menu = None
        if self.menu is not None and self.opts.redraw_ms > 0 and name in DIALOGS:
            self.redraw_at = self.now() + self.opts.redraw_ms / 1000.0
            self.redraw_default = self.menu.selected
        self.set_state(name)

    def redraw_dialog(self):
        """The second drawing of a start-up dialog: the cursor back on its default."""
        self.redraw_at = None
        if self.menu is not None:
            self.menu.selected = self.redraw_default
            self.log("redraw", dialog=self.state)
            self.draw()

    def key_lost(self, key):
        """Enter or a digit sent before the dialog's redraw does nothing."""
        if self.redraw_at is None:
            return False
        self.log("lost_key", dialog=self.state, key=key)
        return True

    def choose(self, index, via):
        """Confirm option `index` of the current dialog."""
        dialog = self.state
        label = self.menu.labels[index]
        self.log("choice", dialog=dialog, option=index + 1, label=label, via=via)
        if dialog == "trust":
            if index == 1:
                self.exit_keep_screen(1, "trust_declined", "Claude Code didn't start because this folder isn't trusted.")
                return
            self.next_dialog()
        elif dialog == "bypass":
            if index == 0:
                self.exit_keep_screen(1, "bypass_declined", None)
                return
            self.next_dialog()
        elif dialog in ("mcp_approval", "api_key"):
            if dialog == "mcp_approval":
                self.mcp_allowed = index in (0, 1)  # "Use this…", not "Continue without…"
            self.next_dialog()
        elif dialog == "onboarding":
            self.show_dialog("onboarding_security")
        elif dialog == "permission":
            self.resolve_permission(index, via)

    def enter_ready(self):
        self.menu = None
        self.set_state("ready")

    # ------------------------------------------------------------------ rendering

    def rule(self, cols):
        return RULE_CHAR * cols

    def header_box(self, cols):
        w = max(20, cols - 3)
        title = f"{RULE_CHAR * 3} Claude Code v{self.version} "
        top = "\u256d" + title + RULE_CHAR * max(0, w - 2 - len(title)) + "\u256e"
        bottom = "\u2570" + RULE_CHAR * (w - 2) + "\u256f"
        left = [
            "",
            "Welcome back!",
            "",
            "\u2590\u259b\u2588\u2588\u2588\u259c\u258c",
            "\u259d\u259c\u2588\u2588\u2588\u2588\u2588\u259b\u2598",
            "\u2598\u2598 \u259d\u259d",
            "",
            f"Opus 4.8 (1M context) {DOT} API Usage Billing",
            self.cwd,
        ]
        lw = 47 if w >= 90 else w - 2
        if len(self.cwd) > lw - 2:  # a long path keeps its tail
            left[-1] = ELLIPSIS + self.cwd[-(lw - 3):]
        lines = [top]
        if w >= 90:
            lw = 47
            rw = w - lw - 3
            right = [
                "Tips for getting started",
                "Run /init to create a CLAUDE.md file with instructions for Claude",
                RULE_CHAR * (rw - 2),
                "What's new",
                "Check the Claude Code changelog for updates",
                "",
                "",
                "",
                "",
            ]
            for lt, rt in zip(left, right):
                lines.append("\u2502" + lt[:lw].center(lw) + "\u2502 " + rt[: rw - 2].ljust(rw - 2) + " \u2502")
        else:
            iw = w - 2
            for lt in left:
                lines.append("\u2502" + lt[:iw].center(iw) + "\u2502")
        lines.append(bottom)
        return lines

    def transcript_lines(self):
        out = []
        for block in self.transcript:
            out.append("")
            out.extend(block)
        return out

    def input_lines(self, cols):
        if not self.buffer:
            return [SELECT + NBSP]
        out = []
        for i, line in enumerate(self.buffer.split("\n")):
            prefix = SELECT + " " if i == 0 else "  "
            text = prefix + line
            while len(text) > cols:
                out.append(text[:cols])
                text = "  " + text[cols:]
            out.append(text)
        return out

    def footer(self, cols):
        if self.ctrl_c_until is not None:
            return "  Press Ctrl-C again to exit"
        if self.ctrl_d_until is not None:
            return "  Press Ctrl-D again to exit"
        if self.buffer:
            return ""  # with text typed, the hints vanish (esc to interrupt included)
        busy = self.state == "busy"
        mode_hint = {
            "bypassPermissions": "\u23f5\u23f5 bypass permissions on (shift+tab to cycle)",
            "acceptEdits": "\u23f5\u23f5 accept edits on (shift+tab to cycle)",
            "plan": "\u23f8 plan mode on (shift+tab to cycle)",
        }.get(self.mode)
        if mode_hint:
            left = "  " + mode_hint + (f" {DOT} esc to interrupt" if busy else "")
        else:
            left = "  " + ("esc to interrupt" if busy else "? for shortcuts") + f" {DOT} \u2190 for agents"
        right = f"{BULLET} high {DOT} /effort"
        pad = cols - 2 - len(left) - len(right)
        if pad >= 2:
            return left + " " * pad + right
        return left

    def dialog_lines(self, cols):
        st = self.state
        if st == "trust":
            lines = [
                " Accessing workspace:",
                "",
                " " + self.cwd,
                "",
            ]
            lines += wrap(
                "Quick safety check: Is this a project you created or one you trust? (Like your own code, a "
                "well-known open source project, or work from your team). If not, take a moment to review what's "
                "in this folder first.",
                cols,
                1,
            )
            lines += [
                "",
                " Claude Code'll be able to read, edit, and execute files here.",
                "",
                " Security guide",
                "",
            ]
            lines += self.menu.lines(1)
            lines += ["", f" Enter to confirm {DOT} Esc to cancel"]
            return lines
        if st == "mcp_approval":
            lines = [f"  New MCP server found in this project: {self.opts.mcp_name}", ""]
            lines += wrap(
                "MCP servers may execute code or access system resources. All tool calls require approval. "
                "Learn more in the MCP documentation.",
                cols,
                2,
            )
            lines += [""] + self.menu.lines(2) + ["", f"  Enter to confirm {DOT} Esc to cancel"]
            return lines
        if st == "bypass":
            lines = ["  WARNING: Claude Code running in Bypass Permissions mode", ""]
            lines += wrap(
                "In Bypass Permissions mode, Claude Code will not ask for your approval before running "
                "potentially dangerous commands.",
                cols,
                2,
            )
            lines += wrap(
                "This mode should only be used in a sandboxed container/VM that has restricted internet access "
                "and can easily be restored if damaged.",
                cols,
                2,
            )
            lines += [""]
            lines += wrap(
                "By proceeding, you accept all responsibility for actions taken while running in Bypass "
                "Permissions mode.",
                cols,
                2,
            )
            lines += ["", "  https://code.claude.com/docs/en/security", ""]
            lines += self.menu.lines(2) + ["", f"  Enter to confirm {DOT} Esc to cancel"]
            return lines
        if st == "api_key":
            lines = [
                "  Detected a custom API key in your environment",
                "",
                f"  ANTHROPIC_API_KEY: sk-ant-...{ELLIPSIS}fake",
                "",
                "  Do you want to use this API key?",
                "",
            ]
            lines += self.menu.lines(2) + ["", f"  Enter to confirm {DOT} Esc to cancel"]
            return lines
        if st == "onboarding":
            lines = [
                f" Welcome to Claude Code v{self.version}",
                "",
                " Let's get started.",
                "",
                " Choose the text style that looks best with your terminal",
                " To change this later, run /theme",
                "",
            ]
            lines += self.menu.lines(1) + ["", f" Enter to confirm {DOT} Esc to cancel"]
            return lines
        if st == "onboarding_security":
            lines = [" Security notes:", ""]
            lines += [" 1. Claude can make mistakes"]
            lines += wrap("You should always review Claude's responses, especially when running code.", cols, 4)
            lines += ["", " 2. Due to prompt injection risks, only use it with code you trust"]
            lines += ["    For more details see:", "    https://code.claude.com/docs/en/security", ""]
            lines += [f" Press Enter to continue{ELLIPSIS}"]
            return lines
        if st == "permission":
            cmd = self.permission["cmd"]
            lines = [" Bash command", ""]
            for cl in cmd.split("\n"):
                lines += wrap(cl, cols, 3) if cl else [""]
            lines += ["   Run a shell command", "", " Do you want to proceed?"]
            lines += self.menu.lines(1)
            lines += ["", f" Esc to cancel {DOT} Tab to amend {DOT} ctrl+e to explain"]
            return lines
        return []

    def frame_lines(self, cols):
        st = self.state
        if st in (None, "boot"):
            return [""]
        if st in ("trust", "mcp_approval", "api_key", "bypass", "onboarding", "onboarding_security"):
            return ["", self.rule(cols)] + self.dialog_lines(cols)
        lines = self.header_box(cols) + [""] + self.transcript_lines()
        if st == "busy":
            lines += ["", f"\u2722 Pondering{ELLIPSIS}", f"  {ELBOW}{NBSP} Tip: Use /theme to change the color theme"]
        if st == "permission":
            lines += ["", self.rule(cols)] + self.dialog_lines(cols)
            return lines
        if st == "exiting":
            return lines
        lines += ["", self.rule(cols)]
        lines += self.input_lines(cols)
        lines += [self.rule(cols), self.footer(cols)]
        return lines

    def draw(self):
        cols, rows = self.term_size()
        lines = []
        for line in self.frame_lines(cols):
            while len(line) > cols:
                lines.append(line[:cols])
                line = line[cols:]
            lines.append(line)
        if len(lines) > rows:
            lines = lines[-rows:]
        self.last_frame = lines
        self.write("\x1b[?2026h\x1b[H\x1b[2J" + "\r\n".join(lines) + "\x1b[?2026l")

    # ------------------------------------------------------------------ exits

    def cursor_below_frame(self):
        """Move the cursor to the line after the last non-blank line of the frame."""
        _, rows = self.term_size()
        last = 0
        for i, line in enumerate(self.last_frame):
            if line.strip():
                last = i + 1
        if last >= rows:
            self.write(f"\x1b[{rows};1H\r\n")
        else:
            self.write(f"\x1b[{last + 1};1H")

    def exit_keep_screen(self, code, reason, message):
        """Leave the dialog text on screen, print `message` under it, exit."""
        self.exit_code = code
        self.exit_reason = reason
        self.keep_screen_message = message

    # ------------------------------------------------------------------ MCP server

    def start_mcp(self):
        if not self.opts.mcp_server or self.mcp_proc is not None:
            return
        self.mcp_proc = "starting"
        threading.Thread(target=self.connect_mcp, daemon=True).start()

    def connect_mcp(self):
        """The MCP handshake Claude Code does with a stdio server (runs on its own thread)."""
        if self.opts.mcp_delay > 0:
            time.sleep(self.opts.mcp_delay)
        try:
            err = open(self.opts.log + ".mcp.err", "ab") if self.opts.log else subprocess.DEVNULL
            proc = subprocess.Popen(
                shlex.split(self.opts.mcp_server),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=self.cwd,
            )
            if err is not subprocess.DEVNULL:
                err.close()
            self.mcp_proc = proc

            def send(msg):
                proc.stdin.write((json.dumps(msg) + "\n").encode())
                proc.stdin.flush()

            def reply(want_id):
                while True:
                    line = proc.stdout.readline()
                    if not line:
                        raise RuntimeError("the server closed its stdout")
                    msg = json.loads(line)
                    if msg.get("id") == want_id:
                        return msg

            client = {"name": "fake-claude", "version": self.version}
            send({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                  "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": client}})
            init = reply(1)
            send({"jsonrpc": "2.0", "method": "notifications/initialized"})
            send({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
            tools = reply(2)["result"]["tools"]
            server = init["result"]["serverInfo"]["name"]
            self.log("mcp_connected", name=self.opts.mcp_name, server=server, tools=len(tools))
        except Exception as e:  # noqa: BLE001 - reported in the log, the UI goes on
            self.log("mcp_failed", name=self.opts.mcp_name, error=f"{type(e).__name__}: {e}")

    def stop_mcp(self):
        proc, self.mcp_proc = self.mcp_proc, None
        if not isinstance(proc, subprocess.Popen):
            return
        try:
            proc.stdin.close()
            proc.wait(timeout=5)
        except Exception:  # noqa: BLE001
            proc.kill()

    def finish(self):
        """Restore the terminal and print whatever the exit path wants printed."""
        self.stop_mcp()
        self.cursor_below_frame()
        self.restore_terminal()
        if self.keep_screen_message:
            self.write(self.keep_screen_message.replace("\n", "\r\n") + "\r\n")
        self.log("exit", reason=self.exit_reason, code=self.exit_code)

    def exit_resume(self, reason, code=0):
        self.state = "exiting"
        self.log("screen", state="exiting")
        self.draw()
        self.exit_keep_screen(code, reason, f"\nResume this session with:\nclaude --resume {RESUME_ID}")

    # ------------------------------------------------------------------ prompt handling

    def submit(self, via):
        text = self.buffer
        if not text.strip():
            return
        self.buffer = ""
        self.ctrl_c_until = None
        busy = self.state in ("busy", "permission")
        self.log("submit", text=text, queued=busy, via=via)
        if text.strip() == "/exit":
            self.transcript.append([SELECT + " /exit", f"  {ELBOW}{NBSP} Goodbye!"])
            self.exit_resume("/exit")
            return
        if busy:
            self.queue.append(text)
            self.draw()
            return
        self.start_turn(text)

    def prompt_block(self, text):
        lines = text.split("\n")
        return [SELECT + " " + lines[0]] + ["  " + line for line in lines[1:]]

    def start_turn(self, text):
        if text.strip() == "/clear":
            self.transcript = [[SELECT + " /clear", f"  {ELBOW}{NBSP} (no content)"]]
            self.set_state("ready")
            return
        self.transcript.append(self.prompt_block(text))
        cmd = None
        for line in text.split("\n"):
            idx = line.find("RUNBASH ")
            if idx >= 0 and line[idx + 8 :].strip():
                cmd = line[idx + 8 :].strip()
                break
        self.turn = {"kind": "bash" if cmd else "reply", "cmd": cmd}
        self.go_busy()

    def go_busy(self):
        self.busy_started = self.now()
        self.busy_until = self.busy_started + self.opts.busy_seconds
        self.set_state("busy")

    def end_busy(self):
        self.busy_until = None
        turn, self.turn = self.turn, None
        secs = int(self.now() - (self.busy_started or self.now()))
        if turn and turn["kind"] == "bash":
            cmd = turn["cmd"]
            self.transcript.append([f"{BULLET} I will run a command."])
            self.transcript.append([f"{BULLET} Bash({cmd})", f"  {ELBOW}{NBSP} Waiting{ELLIPSIS}"])
            block = len(self.transcript) - 1
            prefix = self.cmd_prefix(cmd)
            if self.mode == "bypassPermissions" or prefix in self.allowed_prefixes:
                self.run_command(cmd, block)
                self.turn = {"kind": "reply", "cmd": None}
                self.go_busy()
                return
            self.permission = {"cmd": cmd, "block": block, "prefix": prefix}
            self.menu = Menu(
                ["Yes", f"Yes, and don't ask again for {prefix} commands in {self.cwd}", "No"],
                selected=0,
                cancel=2,
                numbered=True,
            )
            self.set_state("permission")
            return
        self.transcript.append([f"{BULLET} ok"])
        self.transcript.append([f"\u273b Brewed for {secs}s"])
        self.after_turn()

    def after_turn(self):
        if self.queue:
            self.start_turn(self.queue.pop(0))
        else:
            self.set_state("ready")

    @staticmethod
    def cmd_prefix(cmd):
        try:
            words = shlex.split(cmd)
        except ValueError:
            words = cmd.split()
        return words[0] if words else cmd

    def run_command(self, cmd, block):
        try:
            res = subprocess.run(
                ["sh", "-c", cmd],
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=120,
            )
            output = res.stdout.decode("utf-8", "replace")
            code = res.returncode
        except Exception as e:  # noqa: BLE001 - a fixture must not die on a bad command
            output, code = f"{type(e).__name__}: {e}", -1
        self.log("run", cmd=cmd, returncode=code, output=output[:4000])
        out_lines = [line for line in output.splitlines() if line.strip()][:3] or ["(No output)"]
        shown = [f"  {ELBOW}{NBSP} {out_lines[0]}"] + ["     " + line for line in out_lines[1:]]
        self.transcript[block] = [f"{BULLET} Bash({cmd})"] + shown

    def resolve_permission(self, index, via):
        perm, self.permission = self.permission, None
        self.menu = None
        if index in (0, 1):
            if index == 1:
                self.allowed_prefixes.add(perm["prefix"])
            self.run_command(perm["cmd"], perm["block"])
            self.turn = {"kind": "reply", "cmd": None}
            self.go_busy()
        else:
            self.transcript[perm["block"]] = [f"{BULLET} Bash({perm['cmd']})", f"  {ELBOW}{NBSP} User rejected"]
            self.after_turn()

    def interrupt(self):
        self.busy_until = None
        self.turn = None
        self.queue.clear()
        self.transcript.append([f"  {ELBOW}{NBSP} Interrupted {DOT} What should Claude do instead?"])
        self.log("interrupt")
        self.set_state("ready")

    def insert_text(self, text):
        self.ctrl_c_until = None
        self.ctrl_d_until = None
        self.buffer += text

    # ------------------------------------------------------------------ keys

    def on_text(self, text):
        if self.state in ("ready", "busy"):
            self.insert_text(text)
            self.draw()
        elif self.menu is not None and self.state != "onboarding_security":
            for k, ch in enumerate(text):
                if self.exit_code is not None:
                    return
                if self.state in ("ready", "busy"):  # a dialog just closed: the rest is typed into the prompt
                    self.on_text(text[k:])
                    return
                if self.menu is None:
                    return
                if ch.isdigit() and ch != "0":
                    if self.key_lost(ch):
                        continue
                    idx = int(ch) - 1
                    if self.menu.numbered and idx < len(self.menu.labels):
                        self.menu.selected = idx
                        self.choose(idx, "digit")

    def on_enter(self, as_newline):
        st = self.state
        if st in ("ready", "busy"):
            if as_newline:
                self.insert_text("\n")
                self.draw()
            elif self.buffer.endswith("\\"):
                self.buffer = self.buffer[:-1] + "\n"
                self.draw()
            else:
                self.submit("enter")
        elif st == "onboarding_security":
            self.log("choice", dialog=st, option=1, label="Press Enter to continue", via="enter")
            self.next_dialog()
        elif self.menu is not None:
            if self.key_lost("Enter"):
                return
            self.choose(self.menu.selected, "enter")

    def on_arrow(self, direction):
        if self.menu is not None and self.state not in ("ready", "busy"):
            self.menu.selected = max(0, min(len(self.menu.labels) - 1, self.menu.selected + direction))
            self.draw()

    def on_escape(self):
        st = self.state
        if st == "busy":
            self.interrupt()
        elif self.menu is not None and st not in ("ready",) and self.menu.cancel is not None:
            self.menu.selected = self.menu.cancel
            self.choose(self.menu.cancel, "esc")

    def on_control(self, b):
        st = self.state
        now = self.now()
        if b == 0x03:  # Ctrl-C
            if st == "busy" and not self.buffer:
                self.interrupt()
            elif st in ("ready", "busy"):
                if self.buffer:
                    self.buffer = ""
                    self.draw()
                elif self.ctrl_c_until is not None and now < self.ctrl_c_until:
                    self.exit_resume("ctrl-c")
                else:
                    self.ctrl_c_until = now + CTRL_C_WINDOW
                    self.draw()
            elif st == "permission":
                self.on_escape()
            elif st in DIALOGS or st == "onboarding_security":
                self.exit_keep_screen(1, "ctrl-c", None)
        elif b == 0x04:  # Ctrl-D
            if st in ("ready", "busy") and not self.buffer:
                if self.ctrl_d_until is not None and now < self.ctrl_d_until:
                    self.exit_resume("ctrl-d")
                else:
                    self.ctrl_d_until = now + CTRL_C_WINDOW
                    self.draw()
        elif b in (0x7F, 0x08):  # Backspace
            if st in ("ready", "busy") and self.buffer:
                self.buffer = self.buffer[:-1]
                self.draw()
        elif b == 0x15:  # Ctrl-U: delete to the start of the line
            if st in ("ready", "busy") and self.buffer:
                cut = self.buffer.rfind("\n")
                self.buffer = self.buffer[: cut + 1] if cut >= 0 else ""
                self.draw()
        elif b == 0x0A:  # Ctrl-J inserts a newline
            if st in ("ready", "busy"):
                self.insert_text("\n")
                self.draw()
        # anything else (Tab, Ctrl-L, ...) is ignored

    def on_csi(self, params, final):
        if final == "A":
            self.on_arrow(-1)
        elif final == "B":
            self.on_arrow(+1)
        elif final == "Z":  # Shift-Tab cycles the permission mode
            if self.state in ("ready", "busy"):
                cycle = ["default", "acceptEdits", "plan"] + (["bypassPermissions"] if self.bypass_available else [])
                cur = cycle.index(self.mode) if self.mode in cycle else 0
                self.mode = cycle[(cur + 1) % len(cycle)]
                self.log("mode", mode=self.mode)
                self.draw()
        elif final == "~" and params == "200":
            self.in_paste = True
            self.paste_bytes = b""
        # other sequences (right/left arrows, focus events, F-keys, 201~ strays) are ignored

    def on_paste_end(self, now):
        self.in_paste = False
        self.last_paste_end = now
        raw = self.paste_bytes
        self.paste_bytes = b""
        text = raw.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
        self.log("paste", text=text)
        if self.state in ("ready", "busy"):
            self.insert_text(text)
            self.draw()

    # ------------------------------------------------------------------ input parsing

    def feed(self, data, now):
        """Process one read() worth of bytes."""
        buf = self.pending + data
        self.pending = b""
        self.esc_deadline = None
        burst = False  # this read carried pasted (or paste-like) text
        typed = 0  # printable characters typed in this read
        i = 0
        n = len(buf)
        while i < n:
            if self.exit_code is not None:
                return
            if self.in_paste:
                end = buf.find(PASTE_END, i)
                if end < 0:
                    keep = 0
                    for k in range(min(len(PASTE_END) - 1, n - i), 0, -1):
                        if buf.endswith(PASTE_END[:k]):
                            keep = k
                            break
                    self.paste_bytes += buf[i : n - keep]
                    self.pending = buf[n - keep :]
                    return
                self.paste_bytes += buf[i:end]
                i = end + len(PASTE_END)
                burst = True
                self.on_paste_end(now)
                continue
            b = buf[i]
            if b == 0x1B:
                self.decoder.reset()
                if i + 1 >= n:
                    self.pending = buf[i:]
                    self.esc_deadline = now + ESC_WAIT
                    return
                nb = buf[i + 1]
                if nb in (0x5B, 0x4F):  # CSI or SS3
                    j = i + 2
                    while j < n and 0x20 <= buf[j] <= 0x3F:
                        j += 1
                    if j >= n:
                        if n - i > 64:  # runaway: drop it
                            i = n
                            continue
                        self.pending = buf[i:]
                        self.esc_deadline = now + 0.5
                        return
                    final = buf[j]
                    if 0x40 <= final <= 0x7E:
                        params = buf[i + 2 : j].decode("ascii", "replace")
                        i = j + 1
                        self.on_csi(params, chr(final))
                    else:  # malformed: treat as a bare Esc, reprocess the rest
                        i += 1
                        self.on_escape()
                    continue
                if nb == 0x0D:  # Meta-Enter inserts a newline
                    i += 2
                    self.on_enter(as_newline=True)
                    continue
                i += 1
                self.on_escape()
                continue
            if b == 0x0D:
                i += 1
                recent = (now - self.last_paste_end) * 1000.0 < self.opts.enter_window_ms
                self.on_enter(as_newline=burst or recent)
                continue
            if b < 0x20 or b == 0x7F:
                i += 1
                self.decoder.reset()
                self.on_control(b)
                continue
            j = i
            while j < n and buf[j] >= 0x20 and buf[j] != 0x7F and buf[j] != 0x1B:
                j += 1
            text = self.decoder.decode(buf[i:j])
            i = j
            if text:
                typed += len(text)
                if self.state in ("ready", "busy") and typed >= self.opts.burst_chars:
                    # a long run of text in one read is taken for a paste
                    burst = True
                    self.last_paste_end = now
                self.on_text(text)

    def on_esc_timeout(self):
        pending, self.pending = self.pending, b""
        self.esc_deadline = None
        if pending == b"\x1b":
            self.on_escape()
        # a partial CSI that never completed is dropped

    # ------------------------------------------------------------------ main loop

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

        self.setup_terminal()
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
                    self.start_mcp()
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
                fds.append(self.in_fd)
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
            if self.in_fd in ready:
                try:
                    data = os.read(self.in_fd, 65536)
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


def env_default(name, fallback):
    v = os.environ.get(name)
    return v if v not in (None, "") else fallback


def parse_args(argv):
    p = argparse.ArgumentParser(prog="fake_claude.py", allow_abbrev=False, add_help=False)
    # FAKE_CLAUDE_FLOW set but empty (or "none") means: no boot dialogs, straight to the prompt
    p.add_argument("--flow", default=os.environ.get("FAKE_CLAUDE_FLOW", DEFAULT_FLOW))
    p.add_argument("--log", default=env_default("FAKE_CLAUDE_LOG", None))
    p.add_argument("--boot-delay", type=float, default=float(env_default("FAKE_CLAUDE_BOOT_DELAY", "0.3")))
    p.add_argument("--busy-seconds", type=float, default=float(env_default("FAKE_CLAUDE_BUSY_SECONDS", "1.0")))
    p.add_argument("--enter-window-ms", type=float, default=float(env_default("FAKE_CLAUDE_ENTER_WINDOW_MS", "50")))
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


def main():
    argv = sys.argv[1:]
    if "--version" in argv or "-v" in argv:
        opts = parse_args([a for a in argv if a not in ("--version", "-v")])
        print(f"{VERSION_330 if opts.unnumbered else VERSION_197} (Claude Code)")
        return 0
    opts = parse_args(argv)
    app = FakeClaude(opts, sys.argv)
    try:
        return app.run()
    except Exception:  # noqa: BLE001 - last resort: never leave the tty raw
        app.restore_terminal()
        app.log("exit", reason="crash", trace=traceback.format_exc())
        return 70


if __name__ == "__main__":
    sys.exit(main())
