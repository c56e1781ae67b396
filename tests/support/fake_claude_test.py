"""Tests of fake_claude.py, driven the way intercomm drives Claude Code: in a tmux pane.

Every test runs in one private tmux server (`tmux -L fake-test-<pid>`), never the default one;
the server is killed at the end. Run: python3 -m pytest tests/support/fake_claude_test.py -q
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FAKE = HERE / "fake_claude.py"
SCREENS = Path(os.environ.get("CLAUDE_SCREENS", "/work/shared/guides/claude-screens"))
SOCKET = f"fake-test-{os.getpid()}"
SELECT = "\u276f"
NBSP = "\u00a0"

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


def tmux(*args, input=None, check=True):
    res = subprocess.run(
        ["tmux", "-L", SOCKET, *args],
        input=input,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        check=False,
    )
    if check and res.returncode != 0:
        raise AssertionError(f"tmux {args} failed: {res.stderr.decode(errors='replace')}")
    return res.stdout.decode("utf-8", "replace")


@pytest.fixture(scope="module", autouse=True)
def server():
    # a placeholder session keeps the server up while fake panes come and go
    tmux("-f", "/dev/null", "new-session", "-d", "-s", "keep", "-x", "120", "-y", "40", "--", "sleep", "600")
    tmux("set-window-option", "-g", "remain-on-exit", "on")
    try:
        yield
    finally:
        sock = tmux("display-message", "-p", "#{socket_path}", check=False).strip()
        tmux("kill-server", check=False)
        if sock.endswith(SOCKET):
            Path(sock).unlink(missing_ok=True)


class Pane:
    def __init__(self, pane_id, log, cwd):
        self.id = pane_id
        self.log_path = log
        self.cwd = cwd

    def capture(self):
        return tmux("capture-pane", "-p", "-t", self.id)

    def lines(self):
        return self.capture().rstrip("\n").split("\n")

    def keys(self, *keys):
        tmux("send-keys", "-t", self.id, *keys)

    def type(self, text):
        tmux("send-keys", "-t", self.id, "-l", text)

    def paste(self, text, then_enter=False):
        """Bracketed paste (load-buffer + paste-buffer -p); optionally Enter in the same tmux call."""
        buf = f"b{self.id[1:]}"
        tmux("load-buffer", "-b", buf, "-", input=text.encode())
        args = ["paste-buffer", "-p", "-d", "-b", buf, "-t", self.id]
        if then_enter:
            args += [";", "send-keys", "-t", self.id, "Enter"]
        tmux(*args)

    def fmt(self, f):
        return tmux("display-message", "-p", "-t", self.id, f).strip()

    def events(self, kind=None):
        if not self.log_path.exists():
            return []
        evs = [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]
        return [e for e in evs if kind is None or e["event"] == kind]

    def received(self):
        return b"".join(bytes.fromhex(e["hex"]) for e in self.events("bytes"))

    def wait(self, pred, timeout=5.0, what="condition"):
        deadline = time.monotonic() + timeout
        while True:
            screen = self.capture()
            if pred(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; screen:\n{screen}\nlog:\n{self.events()}")
            time.sleep(0.02)

    def wait_text(self, text, timeout=5.0):
        return self.wait(lambda s: text in s, timeout, repr(text))

    def wait_state(self, state, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            states = [e["state"] for e in self.events("screen")]
            if states and states[-1] == state:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"state {state!r} never came; states {states}; screen:\n{self.capture()}")
            time.sleep(0.02)

    def wait_dead(self, timeout=5.0):
        """Wait for the pane's process to end; return its exit code.

        On tmux 3.3a #{pane_dead} turns 1 reliably, but #{pane_dead_status} often stays empty
        (tmux leaves the child unreaped until its next SIGCHLD), so the code comes from the log
        and is cross-checked against tmux when tmux has it.
        """
        deadline = time.monotonic() + timeout
        while True:
            status = self.fmt("#{pane_dead}:#{pane_dead_status}")
            exits = self.events("exit")
            if status.startswith("1:") and exits:
                code = exits[-1]["code"]
                if status[2:]:
                    assert int(status[2:]) == code
                return code
            if time.monotonic() > deadline:
                raise AssertionError(f"pane did not exit ({status}); screen:\n{self.capture()}")
            time.sleep(0.02)


@pytest.fixture
def spawn(tmp_path):
    panes = []

    def _spawn(*args, env=None, boot_delay="0.1", busy="0.2"):
        n = len(panes)
        cwd = tmp_path / f"proj{n}"
        cwd.mkdir()
        log = tmp_path / f"log{n}.jsonl"
        envargs = []
        for k, v in (env or {}).items():
            envargs += ["-e", f"{k}={v}"]
        out = tmux(
            "new-session", "-d", "-P", "-F", "#{pane_id}", "-s", f"s{os.getpid()}_{id(log)}",
            "-x", "120", "-y", "40", "-c", str(cwd), *envargs, "--",
            sys.executable, str(FAKE), "--log", str(log), "--boot-delay", boot_delay, "--busy-seconds", busy, *args,
        )
        pane = Pane(out.strip(), log, cwd)
        panes.append(pane)
        return pane

    yield _spawn
    for p in panes:
        tmux("kill-session", "-t", p.id, check=False)


def starter(name, **subst):
    text = (SCREENS / name).read_text()
    for a, b in subst.items():
        text = text.replace(a, b)
    return text.rstrip("\n").split("\n")


def trimmed(lines):
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def below_last_rule(screen):
    lines = screen.split("\n")
    idx = max(i for i, line in enumerate(lines) if line.startswith("\u2500" * 20))
    return lines[idx + 1 :]


# ---------------------------------------------------------------------------------------- boot


def test_boot_trust_mcp_ready_with_digits(spawn):
    p = spawn("--permission-mode", "default", env={"INTERCOMM_WORKER_ID": "w-7", "INTERCOMM_DB_ROOT": "/tmp/db"})
    p.wait_text("Enter to confirm")
    have_starters = SCREENS.exists()
    trust = p.wait_text(f"{SELECT} 1. Yes, I trust this folder")
    assert "Quick safety check: Is this a project you created or one you trust?" in trust
    if have_starters:
        assert trimmed(p.lines()) == trimmed(starter("trust.txt", **{"/home/dev/project": str(p.cwd)}))

    p.keys("1")  # 2.1.197: a digit selects and confirms at once
    p.wait_text("New MCP server found in this project: intercomm")
    if have_starters:
        assert trimmed(p.lines()) == trimmed(starter("mcp_approval.txt", probe="intercomm"))

    p.keys("1")
    p.wait_text("? for shortcuts")
    screen = p.lines()
    if have_starters:
        want = starter("ready.txt")
        assert len(screen) == len(want)
        for got, exp in zip(screen, want):
            if "/home/dev/project" in exp:
                assert got.startswith("\u2502 ") and "proj0 " in got
            else:
                assert got == exp
    assert SELECT + NBSP in screen  # the empty box reads "❯" + NBSP, as captured

    states = [e["state"] for e in p.events("screen")]
    assert states == ["boot", "trust", "mcp_approval", "ready"]
    choices = [(e["dialog"], e["option"]) for e in p.events("choice")]
    assert choices == [("trust", 1), ("mcp_approval", 1)]
    start = p.events("start")[0]
    assert "--permission-mode" in start["argv"] and "default" in start["argv"]
    assert start["env"]["INTERCOMM_WORKER_ID"] == "w-7"
    assert start["env"]["INTERCOMM_DB_ROOT"] == "/tmp/db"
    assert start["cwd"] == str(p.cwd)
    assert p.received() == b"11"


def test_flow_from_env_and_stray_enter_leaks(spawn):
    # "digit then Enter" on 2.1.197: the Enter lands in the next dialog and confirms its default
    p = spawn(env={"FAKE_CLAUDE_FLOW": "api_key,onboarding"})
    screen = p.wait_text("Detected a custom API key in your environment")
    assert f"{SELECT} 2. No (recommended)" in screen and "    1. Yes" in screen
    p.keys("2", "Enter")
    p.wait_text("Press Enter to continue")
    # the leaked Enter picked the theme default; one more Enter leaves the security notes
    assert [(e["dialog"], e["via"]) for e in p.events("choice")] == [("api_key", "digit"), ("onboarding", "enter")]
    p.keys("Enter")
    p.wait_text("? for shortcuts")


def test_unnumbered_needs_arrows_and_ignores_digits(spawn):
    p = spawn("--unnumbered")
    screen = p.wait_text("Quick safety check")
    assert f" {SELECT} No, exit" in screen  # the safe option is preselected
    assert "   Yes, I trust this folder" in screen
    assert "1." not in "".join(below_last_rule(screen))
    p.keys("1", "2")
    time.sleep(0.3)
    assert p.events("choice") == [] and "Quick safety check" in p.capture()
    p.keys("Up")
    p.wait_text(f"{SELECT} Yes, I trust this folder")
    p.keys("Enter")
    screen = p.wait_text("New MCP server found")
    assert f"{SELECT} Continue without using this MCP server" in screen
    p.keys("1")
    time.sleep(0.2)
    assert "New MCP server found" in p.capture()
    p.keys("Up", "Up")
    p.wait_text(f"{SELECT} Use this MCP server")
    p.keys("Enter")
    p.wait_text("? for shortcuts")
    assert [(e["dialog"], e["option"]) for e in p.events("choice")] == [("trust", 1), ("mcp_approval", 1)]
    assert "Claude Code v2.1.330" in p.capture()


def test_redraw_resets_the_cursor_and_loses_an_early_enter(spawn):
    # 2.1.330: each start-up dialog is drawn again soon after it shows, cursor on the default
    p = spawn("--unnumbered", "--redraw-ms", "400")
    p.wait_text("Quick safety check")
    p.keys("Up")
    p.wait_text(f"{SELECT} Yes, I trust this folder")
    p.keys("Enter")  # before the redraw: lost
    p.wait(lambda s: f"{SELECT} No, exit" in s, what="the redraw")
    assert p.events("choice") == []
    assert [(e["dialog"], e["key"]) for e in p.events("lost_key")] == [("trust", "Enter")]
    assert [e["dialog"] for e in p.events("redraw")] == ["trust"]
    p.keys("Up")
    p.wait_text(f"{SELECT} Yes, I trust this folder")
    p.keys("Enter")
    p.wait_text("New MCP server found")
    assert [(e["dialog"], e["option"]) for e in p.events("choice")] == [("trust", 1)]


def test_bypass_enter_exits_and_leaves_dialog(spawn):
    p = spawn("--dangerously-skip-permissions", env={"FAKE_CLAUDE_FLOW": "bypass"})
    p.wait_text("Enter to confirm")
    if SCREENS.exists():
        assert trimmed(p.lines()) == trimmed(starter("bypass.txt"))
    p.keys("Enter")  # the default is "1. No, exit"
    assert p.wait_dead() == 1
    assert "WARNING: Claude Code running in Bypass Permissions mode" in p.capture()
    assert p.events("exit")[-1]["reason"] == "bypass_declined"
    assert p.events("choice")[-1]["label"] == "No, exit"


def test_bypass_accept_shows_bypass_footer(spawn):
    p = spawn("--permission-mode", "bypassPermissions", env={"FAKE_CLAUDE_FLOW": "bypass"})
    p.wait_text("Yes, I accept")
    p.keys("Down")
    p.wait_text(f"{SELECT} 2. Yes, I accept")
    p.keys("Enter")
    p.wait_text("\u23f5\u23f5 bypass permissions on (shift+tab to cycle)")


def test_trust_no_exits_with_message(spawn):
    p = spawn()
    p.wait_text("Quick safety check")
    p.keys("2")
    assert p.wait_dead() == 1
    screen = p.capture()
    assert "Quick safety check" in screen and "didn't start" in screen
    assert p.events("exit")[-1]["reason"] == "trust_declined"


# ---------------------------------------------------------------------------------------- prompt


def test_paste_enter_quirk(spawn):
    p = spawn(env={"FAKE_CLAUDE_FLOW": "none"})
    p.wait_text("? for shortcuts")

    # paste and Enter in one burst: the Enter becomes a newline, nothing is submitted
    p.paste("hello paste", then_enter=True)
    p.wait_text(f"{SELECT} hello paste")
    time.sleep(0.3)
    assert p.events("submit") == []
    ready_region = below_last_rule(p.capture())
    assert ready_region[0].strip() == ""  # footer hints vanish while the box has text
    assert b"\x1b[200~hello paste\x1b[201~\r" in p.received()

    p.keys("C-c")  # clears the box
    p.wait(lambda s: SELECT + NBSP in s and "? for shortcuts" in s, what="empty box")

    # paste, pause, Enter: submitted exactly once, with real newlines kept
    p.paste("new intercomm mail:\ncall intercomm_read")
    screen = p.wait_text("  call intercomm_read")
    assert f"{SELECT} new intercomm mail:" in screen
    time.sleep(0.2)
    p.keys("Enter")
    p.wait_text("esc to interrupt")
    assert "\u2722 Pondering\u2026" in p.capture()
    p.wait_text("\u25cf ok")
    p.wait_text("? for shortcuts")
    time.sleep(0.1)
    subs = p.events("submit")
    assert [s["text"] for s in subs] == ["new intercomm mail:\ncall intercomm_read"]
    states = [e["state"] for e in p.events("screen")]
    assert states[-3:] == ["ready", "busy", "ready"]

    # typed text then a separate Enter submits; a long typed burst with Enter in one write does not
    p.type("short one")
    time.sleep(0.05)
    p.keys("Enter")
    p.wait(lambda s: len(p.events("submit")) == 2, what="second submit")
    p.wait_text("? for shortcuts")
    long = "x" * 100
    tmux("send-keys", "-t", p.id, "-l", long, ";", "send-keys", "-t", p.id, "Enter")
    time.sleep(0.3)
    assert len(p.events("submit")) == 2
    assert [s["text"] for s in p.events("submit")][1] == "short one"


def test_runbash_permission_runs_command(spawn):
    p = spawn(env={"FAKE_CLAUDE_FLOW": ""})
    p.wait_text("? for shortcuts")
    marker = p.cwd / "marker.txt"
    p.paste("RUNBASH echo approved > marker.txt")
    time.sleep(0.2)
    p.keys("Enter")
    screen = p.wait_text("Do you want to proceed?")
    region = below_last_rule(screen)
    assert region[0] == " Bash command"
    assert "   echo approved > marker.txt" in region
    assert f" {SELECT} 1. Yes" in region
    assert f"   2. Yes, and don't ask again for echo commands in {p.cwd}" in region
    assert "   3. No" in region
    assert " Esc to cancel \u00b7 Tab to amend \u00b7 ctrl+e to explain" in region
    assert not marker.exists()
    p.keys("1")
    p.wait_text(f"\u25cf Bash(echo approved > marker.txt)\n  \u23bf{NBSP} (No output)")
    assert marker.read_text() == "approved\n"
    p.wait_text("? for shortcuts")
    assert [(e["dialog"], e["option"]) for e in p.events("choice")] == [("permission", 1)]

    # Esc rejects: the command does not run
    p.paste("RUNBASH touch rejected.txt")
    time.sleep(0.2)
    p.keys("Enter")
    p.wait_text("Do you want to proceed?")
    p.keys("Escape")
    p.wait_text("User rejected")
    p.wait_text("? for shortcuts")
    assert not (p.cwd / "rejected.txt").exists()


def test_exit_command_and_byte_log(spawn):
    p = spawn(env={"FAKE_CLAUDE_FLOW": "none"})
    p.wait_text("? for shortcuts")
    # odd bytes must not crash it
    tmux("send-keys", "-t", p.id, "-H", "00", "1b", "ff", "fe", "07", "1b", "5b", "39", "39", "7a", "c3")
    time.sleep(0.2)
    p.keys("C-u", "C-c")
    p.wait_text("? for shortcuts")
    p.type("/exit")
    time.sleep(0.1)
    p.keys("Enter")
    assert p.wait_dead() == 0
    screen = p.capture()
    assert "Resume this session with:" in screen
    assert "claude --resume 00000000-0000-0000-0000-000000000000" in screen
    assert p.events("exit")[-1]["reason"] == "/exit"
    assert p.events("error") == []
    raw = p.received()
    assert raw.startswith(b"\x00\x1b\xff\xfe\x07\x1b[99z\xc3")
    assert raw.endswith(b"/exit\r")


def test_sigterm_exits_cleanly(spawn):
    p = spawn()
    p.wait_text("Quick safety check")
    pid = int(p.fmt("#{pane_pid}"))
    os.kill(pid, 15)
    p.wait_dead()
    assert p.events("exit")[-1]["reason"] == "SIGTERM"
