"""The screen states and the start-up dialogs of Claude Code 2.1.197 (2.1.330 with --unnumbered).

States: None (nothing drawn), "boot" (blank), a start-up dialog (DIALOGS, then
"onboarding_security" after "onboarding"), "ready" (the prompt), "busy", "permission" (the Bash
prompt), "exiting". The dialogs come in --flow's order after the boot; each is a Menu answered
by arrows and Enter, a digit (numbered menus only) or Esc. As 2.1.330 does (the captures in
tests/fixtures/screens), --unnumbered preselects the safe option and --redraw-ms draws each
dialog a second time with the cursor back on its default.
"""

from __future__ import annotations

from .screens import Menu

DIALOGS = ("trust", "mcp_approval", "api_key", "bypass", "onboarding")


class Dialogs:
    """The state machine half of FakeClaude (app.py), a mixin: it sets state and menu, logs
    each change, and hands on to the app's enter_ready, start_mcp, exit_keep_screen and
    resolve_permission (turns.py)."""

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
