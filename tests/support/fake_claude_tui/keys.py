"""The keyboard: the bytes read from the tty, parsed into keys, and what each key does.

Parsing follows a terminal in raw mode with bracketed paste on: ESC [ ... final (CSI) and ESC O
(SS3) sequences, a lone ESC that becomes the Esc key after ESC_WAIT, ESC CR (Meta-Enter),
pasted text between ESC[200~ and ESC[201~, control bytes, and UTF-8 text (split across reads).
An Enter in the same read as pasted text (or as --burst-chars or more typed characters, taken
for a paste), or within --enter-window-ms of a paste's end, inserts a newline instead of
submitting: the swallowed Enter that intercomm's wake must notice. The window's default, 15 ms,
is Claude Code 2.1.x's, which this stand-in draws (../shared/guides/real-claude-code.md,
"Submitting a typed prompt": ~10 ms sufficed, 5 ms failed once in 5 under load, 20 ms+ never).
1.0.x and 2.0.x needed ~150 ms after typing, but they also showed the text only that late, and an
Enter sent once it showed failed only within ~1 ms of it (scripts/measure-enter-gap); this
stand-in shows a paste at once, so a longer window here would model neither.
"""

from __future__ import annotations

from .dialogs import DIALOGS

PASTE_END = b"\x1b[201~"

CTRL_C_WINDOW = 1.5  # seconds the "Press Ctrl-C again to exit" footer stays up
ESC_WAIT = 0.05  # a lone ESC at the end of a read becomes the Esc key after this long


class Keys:
    """The input half of FakeClaude (app.py), a mixin: it keeps the parser's state (pending,
    esc_deadline, in_paste, paste_bytes, last_paste_end, decoder) and calls the dialogs' and
    the prompt's handlers."""

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

