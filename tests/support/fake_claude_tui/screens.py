"""Drawing the screens of the Claude Code 2.1.197 TUI (2.1.330 with --unnumbered).

The frames match real `capture-pane -p` output closely enough that intercomm's classifier
(src/screen) reads them the same way: the header box, the transcript, the prompt box between
two rules with its footer, the busy spinner, the start-up dialogs and the Bash permission
prompt (tests/fixtures/screens holds the real captures). Each frame is drawn whole, inside a
synchronized update.
"""

from __future__ import annotations

import textwrap

RULE_CHAR = "\u2500"  # ─
SELECT = "\u276f"  # ❯
NBSP = "\u00a0"
DOT = "\u00b7"  # ·
BULLET = "\u25cf"  # ●
ELBOW = "\u23bf"  # ⎿
ELLIPSIS = "\u2026"  # …


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


class Screens:
    """The drawing half of FakeClaude (app.py), a mixin: it reads the app's state (state,
    menu, buffer, transcript, mode, cwd, version, ctrl_c_until, ctrl_d_until, permission) and
    writes through its terminal (term)."""

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
        cols, rows = self.term.size()
        lines = []
        for line in self.frame_lines(cols):
            while len(line) > cols:
                lines.append(line[:cols])
                line = line[cols:]
            lines.append(line)
        if len(lines) > rows:
            lines = lines[-rows:]
        self.last_frame = lines
        self.term.write("\x1b[?2026h\x1b[H\x1b[2J" + "\r\n".join(lines) + "\x1b[?2026l")

    def cursor_below_frame(self):
        """Move the cursor to the line after the last non-blank line of the frame."""
        _, rows = self.term.size()
        last = 0
        for i, line in enumerate(self.last_frame):
            if line.strip():
                last = i + 1
        if last >= rows:
            self.term.write(f"\x1b[{rows};1H\r\n")
        else:
            self.term.write(f"\x1b[{last + 1};1H")

