"""The stand-in's MCP client: the stdio handshake Claude Code does with a configured server.

Started (once) in the background while the UI goes on: --mcp-delay S later it runs the
--mcp-server command line (split like a shell would; nothing runs it through a shell) in the
working directory, with its stderr appended to <log>.mcp.err, then sends initialize,
notifications/initialized and tools/list, and logs "mcp_connected" (with the tool count) or
"mcp_failed". At exit it closes the server's stdin and waits up to 5 s before killing it.

Imported only when a server is configured (subprocess and threading cost start-up time), at
start-up then, inside the boot.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import threading
import time


class McpClient:
    """One MCP server connection, `name` as .mcp.json names it; `log` is the app's EventLog."""

    def __init__(self, name, command, delay, err_path, cwd, version, log):
        self.name = name
        self.command = command
        self.delay = delay
        self.err_path = err_path  # None: the server's stderr is dropped
        self.cwd = cwd
        self.version = version
        self.log = log
        self.proc = None
        self.thread = None

    def start(self):
        """Connect on a daemon thread; returns at once."""
        self.thread = threading.Thread(target=self.connect, daemon=True)
        self.thread.start()

    def wait(self, timeout):
        """Block until the handshake has ended (connected or failed), at most `timeout` s."""
        if self.thread is not None:
            self.thread.join(timeout)

    def connect(self):
        """The MCP handshake Claude Code does with a stdio server (runs on its own thread)."""
        if self.delay > 0:
            time.sleep(self.delay)
        try:
            err = open(self.err_path, "ab") if self.err_path else subprocess.DEVNULL
            proc = subprocess.Popen(
                shlex.split(self.command),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=self.cwd,
            )
            if err is not subprocess.DEVNULL:
                err.close()
            self.proc = proc

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
            self.log("mcp_connected", name=self.name, server=server, tools=len(tools))
        except Exception as e:  # noqa: BLE001 - reported in the log, the UI goes on
            self.log("mcp_failed", name=self.name, error=f"{type(e).__name__}: {e}")

    def stop(self):
        """Close the server's stdin (its cue to exit) and wait for it; no-op before it started."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()
            proc.wait(timeout=5)
        except Exception:  # noqa: BLE001
            proc.kill()
