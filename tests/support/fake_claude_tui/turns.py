"""Submitted prompts, as Claude Code 2.1.197 handles them with the stand-in's scripted model.

A prompt makes the stand-in busy for --busy-seconds, then it replies "● ok". A prompt holding
"RUNBASH <cmd>" asks for Bash permission for <cmd> after the busy phase instead ("Yes", "Yes,
and don't ask again for <prefix> commands", "No"); approving runs `sh -c <cmd>` in the working
directory and shows its first output lines. Prompts submitted while busy queue. "/clear" clears
the transcript; "/exit" prints the resume hint and exits 0.

subprocess and shlex are imported where a Bash command needs them, not at start-up.
"""

from __future__ import annotations

from .screens import BULLET, DOT, ELBOW, ELLIPSIS, NBSP, SELECT, Menu

RESUME_ID = "00000000-0000-0000-0000-000000000000"


class Turns:
    """The prompt half of FakeClaude (app.py), a mixin: it keeps buffer, transcript, queue,
    turn, busy_until, permission and allowed_prefixes, and draws through set_state and draw."""

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
        """The command's first word: what "don't ask again" allows."""
        import shlex

        try:
            words = shlex.split(cmd)
        except ValueError:
            words = cmd.split()
        return words[0] if words else cmd

    def run_command(self, cmd, block):
        """Run the approved command and show its first output lines in transcript[block]."""
        import subprocess

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


    def exit_resume(self, reason, code=0):
        self.state = "exiting"
        self.log("screen", state="exiting")
        self.draw()
        self.exit_keep_screen(code, reason, f"\nResume this session with:\nclaude --resume {RESUME_ID}")
