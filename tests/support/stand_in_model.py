#!/usr/bin/env python3
"""A scripted stand-in for the Anthropic Messages API, plus a tiny MCP server.

Claude Code talks to this instead of the real service when
`ANTHROPIC_BASE_URL=http://127.0.0.1:PORT` (see
shared/guides/real-claude-code.md, "The stand-in model"). Python 3 stdlib only.

    stand_in_model.py serve --port 0 --port-file F --log L   # the Messages API
    stand_in_model.py mcp                                     # the "probe" MCP stdio server

serve
    `HEAD /` and `GET /` answer 200. `POST /v1/messages` answers a streaming
    (server-sent events) or plain JSON message, chosen by the script below
    from the newest user text of the conversation:

        user text contains   reply
        ------------------   -----------------------------------------------
        RUNBASH              tool_use Bash {"command": "echo hi > /tmp/x"}
        WRITEFILE            tool_use Write notes.txt (in the working folder)
        EDITFILE             tool_use Read README.md, then tool_use Edit of it
        RUNMCP               tool_use mcp__probe__echo {"text": "hello"}
        PLANEXIT             tool_use Write of the plan file plan mode names
                             (`create your plan at <path>`), then tool_use
                             ExitPlanMode {}: the plan approval dialog
        SLOW                 waits STAND_IN_SLOW_SECONDS (default 6) first
        anything else        text "STAND-IN: <first words of the prompt>"

    After the scripted tools of a prompt have run, the answer is the text
    "STAND-IN: <KEYWORD> done." Requests without tools (Claude Code's
    title/summary side requests) get a short text and never wait.
    `POST /v1/messages/count_tokens` answers a fixed count; anything else 404.
    Every request is appended to the --log file as one JSON line
    {"t", "method", "path", "body", "reply"}.
    The chosen port is written to --port-file once listening.

mcp
    Newline-delimited JSON-RPC on stdin/stdout: initialize (with server
    instructions), tools/list (one tool, `echo`), tools/call, ping.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SLOW_SECONDS = float(os.environ.get("STAND_IN_SLOW_SECONDS", "6"))

# keyword -> the tool calls made, in order, one per model turn.
SCRIPTS: list[tuple[str, list[tuple[str, dict[str, Any]]]]] = [
    ("RUNBASH", [("Bash", {"command": "echo hi > /tmp/x", "description": "Write a marker file"})]),
    ("WRITEFILE", [("Write", {"file_path": "@cwd/notes.txt", "content": "written by the stand-in\n"})]),
    (
        "EDITFILE",
        [
            ("Read", {"file_path": "@cwd/README.md"}),
            (
                "Edit",
                {
                    "file_path": "@cwd/README.md",
                    "old_string": "probe project",
                    "new_string": "probe project, edited",
                },
            ),
        ],
    ),
    ("RUNMCP", [("mcp__probe__echo", {"text": "hello"})]),
    (
        "PLANEXIT",
        [
            ("Write", {"file_path": "@planfile", "content": "# Plan\n\n1. Write notes.txt\n2. Report back\n"}),
            ("ExitPlanMode", {}),
        ],
    ),
]


# ---------------------------------------------------------------- the script


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [b for b in content if isinstance(b, dict)]
    return []


def _user_text(message: dict[str, Any]) -> str:
    """The typed text of a user message, without injected <system-reminder>s."""
    parts = []
    for block in _blocks(message):
        if block.get("type") == "text":
            text = str(block.get("text", ""))
            if not text.lstrip().startswith("<system-reminder>"):
                parts.append(text)
    return "\n".join(parts)


def _has_tool_result(message: dict[str, Any]) -> bool:
    return any(b.get("type") == "tool_result" for b in _blocks(message))


def _cwd(body: dict[str, Any]) -> str:
    """The working folder, read from the environment section Claude Code puts
    in the system prompt (2.1.197) or in a system message (2.1.330)."""
    text = json.dumps(body)
    for marker in ("Primary working directory: ", "Working directory: "):
        if marker in text:
            rest = text.split(marker, 1)[1]
            end = min(i for i in (rest.find("\\n"), rest.find('"'), len(rest)) if i >= 0)
            return rest[:end].strip()
    return os.getcwd()


def _plan_file(body: dict[str, Any]) -> str:
    """The plan file plan mode asks for ("create your plan at <path>", Claude
    Code 2.1.x's plan-mode system entry), else PLAN.md in the working folder."""
    text = json.dumps(body)
    for marker in ("create your plan at ", "A plan file already exists at "):
        if marker in text:
            rest = text.split(marker, 1)[1]
            return rest.split(" ", 1)[0].split("\\n", 1)[0].rstrip(".:")
    return _cwd(body) + "/PLAN.md"


def plan_reply(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str, float]:
    """(content blocks, stop_reason, seconds to wait) for one request body."""
    messages = [m for m in body.get("messages", []) if isinstance(m, dict)]
    users = [m for m in messages if m.get("role") == "user"]
    # The newest user message that is a typed prompt, and how many tool
    # results have come back since.
    prompt, results = "", 0
    for message in reversed(users):
        if _has_tool_result(message):
            results += 1
            continue
        text = _user_text(message)
        if text.strip():
            prompt = text
            break
    if not body.get("tools"):
        return [{"type": "text", "text": "Stand-in session"}], "end_turn", 0.0
    for keyword, steps in SCRIPTS:
        if keyword in prompt:
            if results < len(steps):
                name, tool_input = steps[results]
                cwd = _cwd(body)
                tool_input = {
                    k: (v.replace("@planfile", _plan_file(body)).replace("@cwd", cwd) if isinstance(v, str) else v)
                    for k, v in tool_input.items()
                }
                block = {
                    "type": "tool_use",
                    "id": "toolu_" + uuid.uuid4().hex[:24],
                    "name": name,
                    "input": tool_input,
                }
                lead = {"type": "text", "text": f"STAND-IN: calling {name}."}
                return [lead, block], "tool_use", 0.0
            return [{"type": "text", "text": f"STAND-IN: {keyword} done."}], "end_turn", 0.0
    wait = SLOW_SECONDS if "SLOW" in prompt and results == 0 else 0.0
    words = " ".join(prompt.split()[:6])
    return [{"type": "text", "text": f"STAND-IN: {words}"}], "end_turn", wait


# ---------------------------------------------------------------- HTTP


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log_path: str = ""
    log_lock = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # requests go to the JSON log, not stderr

    def _log(self, body: Any, reply: Any) -> None:
        if not self.log_path:
            return
        line = json.dumps(
            {"t": time.time(), "method": self.command, "path": self.path, "body": body, "reply": reply}
        )
        with self.log_lock, open(self.log_path, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def _send_json(self, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_HEAD(self) -> None:  # noqa: N802
        self._log(None, 200)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        self._log(None, "ok")
        self._send_json(200, {"ok": True})

    def _messages_request(self) -> dict[str, Any] | None:
        """The body of a POST to /v1/messages; other paths (count_tokens,
        404) are answered and logged here, and give None."""
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"unparsed": raw.decode("utf-8", "replace")}
        path = self.path.split("?", 1)[0]
        if path == "/v1/messages/count_tokens":
            self._log(body, {"input_tokens": 100})
            self._send_json(200, {"input_tokens": 100})
            return None
        if path != "/v1/messages":
            self._log(body, 404)
            self._send_json(404, {"type": "error", "error": {"type": "not_found_error", "message": path}})
            return None
        return body

    def do_POST(self) -> None:  # noqa: N802
        body = self._messages_request()
        if body is None:
            return
        content, stop_reason, wait = plan_reply(body)
        self._log(body, {"content": content, "stop_reason": stop_reason, "wait": wait})
        if wait:
            time.sleep(wait)
        model = body.get("model", "claude-stand-in")
        if body.get("stream"):
            self._stream(model, content, stop_reason)
        else:
            self._send_json(200, message(model, content, stop_reason))

    def _stream(self, model: str, content: list[dict[str, Any]], stop_reason: str) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True

        def event(name: str, data: dict[str, Any]) -> None:
            data = {"type": name, **data}
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()

        start = message(model, [], None)
        event("message_start", {"message": start})
        for index, block in enumerate(content):
            if block["type"] == "text":
                event("content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}})
                delta = {"type": "text_delta", "text": block["text"]}
            else:
                opening = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
                event("content_block_start", {"index": index, "content_block": opening})
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            event("content_block_delta", {"index": index, "delta": delta})
            event("content_block_stop", {"index": index})
        event(
            "message_delta",
            {"delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": {"output_tokens": 12}},
        )
        event("message_stop", {})


def message(model: str, content: list[dict[str, Any]], stop_reason: str | None) -> dict[str, Any]:
    return {
        "id": "msg_" + uuid.uuid4().hex[:24],
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 100,
            "output_tokens": 12,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def serve(args: argparse.Namespace) -> int:
    Handler.log_path = args.log or ""
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(str(port))
        os.replace(tmp, args.port_file)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    return 0


# ---------------------------------------------------------------- MCP stdio


def mcp() -> int:
    tool = {
        "name": "echo",
        "description": "Echo the given text back.",
        "inputSchema": {
            "type": "object",
            "properties": {"text": {"type": "string", "description": "Text to echo."}},
            "required": ["text"],
        },
    }
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
        except ValueError:
            continue
        if "id" not in req:
            continue  # a notification
        method, params = req.get("method"), req.get("params") or {}
        result: Any
        if method == "initialize":
            result = {
                "protocolVersion": params.get("protocolVersion", "2025-06-18"),
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "probe", "version": "0.1.0"},
                "instructions": "The probe server echoes text.",
            }
        elif method == "tools/list":
            result = {"tools": [tool]}
        elif method == "tools/call":
            text = str((params.get("arguments") or {}).get("text", ""))
            result = {"content": [{"type": "text", "text": f"echo: {text}"}], "isError": False}
        elif method == "ping":
            result = {}
        else:
            reply = {"jsonrpc": "2.0", "id": req["id"], "error": {"code": -32601, "message": f"no {method}"}}
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()
            continue
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": result}) + "\n")
        sys.stdout.flush()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve", help="the Messages API stand-in")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--port-file", help="write the chosen port here")
    p.add_argument("--log", help="append one JSON line per request here")
    sub.add_parser("mcp", help="the probe MCP stdio server")
    args = parser.parse_args()
    if args.cmd == "serve":
        return serve(args)
    return mcp()


if __name__ == "__main__":
    sys.exit(main())
