"""Harness for driving real `intercomm mcp` processes with the official MCP SDK.

Each instance (master or worker) is its own `intercomm mcp` process, as in
real use, all sharing one bus in a temporary git repository. Tests are plain
functions decorated with `asynctest`, which runs them under `anyio.run` with a
timeout (no pytest-asyncio).

The binary is $INTERCOMM_BIN, else <repo>/target/debug/intercomm (`cargo build`).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

if sys.version_info < (3, 11):  # anyio depends on the backport there
    from exceptiongroup import BaseExceptionGroup

REPO_ROOT = Path(__file__).resolve().parents[2]

GIT_ENV = {
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "intercomm test",
    "GIT_AUTHOR_EMAIL": "test@intercomm.invalid",
    "GIT_COMMITTER_NAME": "intercomm test",
    "GIT_COMMITTER_EMAIL": "test@intercomm.invalid",
    "GIT_TERMINAL_PROMPT": "0",
}


def intercomm_bin() -> str:
    """The binary under test; fails the test with the fix when it is missing."""
    explicit = os.environ.get("INTERCOMM_BIN", "").strip()
    path = Path(explicit) if explicit else REPO_ROOT / "target" / "debug" / "intercomm"
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"intercomm binary not found at {path}: run `cargo build` or set INTERCOMM_BIN")
    return str(path)


def git(*args: str, cwd: Path | str) -> str:
    """Runs git (argv list, never a shell) and returns its stripped stdout."""
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip()}")
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fresh git repository on `main` with one commit."""
    root = tmp_path / "project"
    root.mkdir()
    git("init", "-q", "-b", "main", cwd=root)
    (root / "README.md").write_text("intercomm test project\n")
    git("add", "README.md", cwd=root)
    git("commit", "-q", "-m", "initial commit", cwd=root)
    return root


def asynctest(fn):
    """Runs an async test body with anyio under a 45 s limit; a task group's
    single failure is re-raised as itself so pytest shows the plain assertion."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        async def body() -> None:
            with anyio.fail_after(45):
                await fn(*args, **kwargs)

        try:
            anyio.run(body)
        except BaseExceptionGroup as group:
            leaves = _leaves(group)
            if len(leaves) == 1:
                raise leaves[0] from None
            raise

    return wrapper


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


class Proc:
    """One `intercomm mcp` process and its SDK client."""

    def __init__(self, name: str, params: StdioServerParameters) -> None:
        self.name = name
        self.params = params
        self.client: Client | None = None
        self.pid: int | None = None  # set by register()
        self.id: str | None = None  # set by register()
        self._stop = anyio.Event()
        self._closed = anyio.Event()

    async def _run(self, *, task_status=anyio.TASK_STATUS_IGNORED) -> None:
        # Each client lives in its own task so processes can be closed in any order.
        try:
            async with Client(self.params, mode="legacy") as client:
                self.client = client
                task_status.started()
                await self._stop.wait()
        finally:
            self._closed.set()

    async def close(self) -> None:
        """Closes the client: the server's stdin reaches EOF and the SDK reaps it."""
        self._stop.set()
        await self._closed.wait()

    async def call(self, tool: str, args: dict[str, Any] | None = None):
        """Calls `intercomm_<tool>` and returns the raw result."""
        assert self.client is not None, f"{self.name} is not connected"
        return await self.client.call_tool(f"intercomm_{tool}", args or {})

    async def ok(self, tool: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        """Calls a tool that must succeed; returns its structured content."""
        result = await self.call(tool, args)
        assert not result.is_error, f"{self.name} {tool}({args}) failed: {text_of(result)}"
        assert isinstance(result.structured_content, dict), f"{tool}: no structured content"
        return result.structured_content

    async def err(self, tool: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        """Calls a tool that must fail; returns the structured `error` (code, message, hint)."""
        result = await self.call(tool, args)
        assert result.is_error, f"{self.name} {tool}({args}) should fail, got: {text_of(result)}"
        error = (result.structured_content or {}).get("error")
        assert isinstance(error, dict), f"{tool}: no structured error in {result.structured_content}"
        assert text_of(result).startswith("Error: "), text_of(result)
        error["text"] = text_of(result)
        return error

    async def register(self, **args: Any) -> dict[str, Any]:
        reg = await self.ok("register", args)
        self.pid, self.id = reg["pid"], reg["id"]
        return reg


def text_of(result) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


class Fleet:
    """Starts `intercomm mcp` processes that share one bus."""

    def __init__(self, tg, cwd: Path, db_root: Path | None) -> None:
        self._tg = tg
        self.cwd = cwd
        self.db_root = db_root
        self.procs: list[Proc] = []

    async def start(self, name: str, *, cwd: Path | None = None) -> Proc:
        env = {
            **GIT_ENV,
            # Empty means unset to intercomm: no inherited root, pane or worker id.
            "INTERCOMM_DB_ROOT": str(self.db_root) if self.db_root else "",
            "INTERCOMM_WORKER_ID": "",
            "TMUX": "",
            "TMUX_PANE": "",
            # A socket no server listens on: never the developer's tmux server.
            "INTERCOMM_TMUX_SOCKET": str(self.cwd.parent / "no-tmux.sock"),
            "INTERCOMM_LOG": "warn",
        }
        params = StdioServerParameters(
            command=intercomm_bin(), args=["mcp"], env=env, cwd=str(cwd or self.cwd)
        )
        proc = Proc(name, params)
        await self._tg.start(proc._run)
        self.procs.append(proc)
        return proc


@asynccontextmanager
async def fleet(cwd: Path, db_root: Path | None = None):
    """A group of processes on the bus found from `cwd` (or pinned to `db_root`);
    every process still open is closed on exit."""
    async with anyio.create_task_group() as tg:
        f = Fleet(tg, cwd, db_root)
        try:
            yield f
        finally:
            for proc in f.procs:
                proc._stop.set()


def by_id(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Status instances keyed by id."""
    return {i["id"]: i for i in status["instances"]}
