"""intercomm's MCP surface through the official Python MCP SDK (mcp 2.x).

Every instance is a real `intercomm mcp` process (one per master or worker, as
Claude Code would start them) on one bus in a temporary git repository. The
assertions are on `structuredContent`, which carries the same facts as the text.

Run: cargo build && python -m pytest tests/python -q
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import anyio
import pytest

from conftest import asynctest, by_id, fleet, git

# The original's 19 tools: the names in its recorded tools/list reply (also read by tests/it and
# benches/bus through tests/support/original_tools.rs).
TOOL_SCHEMAS = Path(__file__).resolve().parent.parent / "fixtures" / "reference" / "tool-schemas.json"
EXPECTED_TOOLS = {tool["name"] for tool in json.loads(TOOL_SCHEMAS.read_text())["tools"]}
# Added by intercomm beyond the original's 19.
NEW_TOOLS = {f"intercomm_{name}" for name in ("reply", "ask", "set_summary", "respawn")}
MIB = 1 << 20


async def wait_for_state(master, worker_id: str, state: str, within: float = 2.0) -> dict:
    """Polls the master's status until `worker_id` is in `state`; returns its view."""
    deadline = anyio.current_time() + within
    while True:
        view = by_id(await master.ok("status")).get(worker_id)
        if view is not None and view["state"] == state:
            return view
        if anyio.current_time() >= deadline:
            raise AssertionError(f"{worker_id} not {state!r} within {within}s: {view}")
        await anyio.sleep(0.05)


# 1. initialize ---------------------------------------------------------------


@asynctest
async def test_initialize_gives_the_protocol_and_the_original_19_tools_plus_4(repo: Path) -> None:
    async with fleet(repo) as f:
        proc = await f.start("probe")
        client = proc.client
        assert client.server_info is not None and client.server_info.name == "intercomm"

        protocol = await proc.ok("get_protocol")
        assert protocol["protocol"].startswith("# InterComm coordination protocol")
        assert client.instructions == protocol["protocol"]
        result = await proc.call("get_protocol")
        assert result.content[0].text == client.instructions

        listed = (await client.list_tools()).tools
        names = [t.name for t in listed]
        assert len(names) == 23, names
        assert set(names) == EXPECTED_TOOLS | NEW_TOOLS
        schemas = {t.name: t.input_schema for t in listed}
        assert set(schemas["intercomm_send"]["required"]) == {"to", "message"}
        assert schemas["intercomm_assign"]["properties"]["target_type"]["enum"] == [
            "task", "milestone", "subtask", "sidequest", "item"
        ]


# 2. a round: master + 3 workers ---------------------------------------------


@asynctest
async def test_round_of_master_and_three_workers(repo: Path) -> None:
    async with fleet(repo) as f:
        master = await f.start("master")
        reg = await master.register(role="master")
        assert reg["id"] == "master" and reg["role"] == "master"
        assert reg["displaced_master_pid"] is None and reg["pane"] is None

        workers = [await f.start(f"w{i}") for i in range(3)]
        # Registered concurrently: ids must still be distinct (B2).
        async with anyio.create_task_group() as tg:
            for w in workers:
                tg.start_soon(w.register)
        assert sorted(w.id for w in workers) == ["worker-1", "worker-2", "worker-3"]
        assert all(w.pid and w.pid != master.pid for w in workers)
        assert len({w.pid for w in workers}) == 3

        status = by_id(await master.ok("status"))
        assert set(status) == {"master", "worker-1", "worker-2", "worker-3"}
        assert all(v["alive"] and v["state"] == "alive" for v in status.values())
        assert status["worker-2"]["pid"] == next(w.pid for w in workers if w.id == "worker-2")

        for w in workers:
            slug = f"task-{w.id}"
            assigned = await master.ok("assign", {
                "worker": w.id,
                "role_instructions": f"Implement {slug}; touch nothing else.",
                "target_type": "task",
                "target_slug": slug,
            })
            assert assigned["worker"] == w.id
            assert assigned["contract"]["aimfp_target"] == {"type": "task", "slug": slug}
            assert assigned["woke"] is False

        for w in workers:
            inbox = await w.ok("read")
            assert inbox["count"] == 1 and inbox["remaining"] == 0
            msg = inbox["messages"][0]
            assert msg["type"] == "task" and msg["from"] == "master" and msg["to"] == w.id
            assert "contract_error" not in msg
            contract = msg["contract"]
            assert contract["aimfp_target"]["slug"] == f"task-{w.id}"
            assert contract["aimfp_target"]["type"] == "task"
            assert contract["role"] == "worker"
            assert contract["reportBack"] == ["branch", "commit"]
            assert (await w.ok("read"))["count"] == 0  # marked read

            sent = await w.ok("send", {
                "to": "master", "type": "done", "message": f"branch=b-{w.id} commit=0123abc",
            })
            assert sent["to"] == "master" and sent["type"] == "done"
            assert sent["recipient_alive"] is True

        reports = await master.ok("read")
        assert reports["count"] == 3
        assert [m["type"] for m in reports["messages"]] == ["done"] * 3
        assert sorted(m["from"] for m in reports["messages"]) == sorted(w.id for w in workers)
        for m in reports["messages"]:
            assert m["content"] == f"branch=b-{m['from']} commit=0123abc"
            assert m["to"] == "master"
        seqs = [m["seq"] for m in reports["messages"]]
        assert seqs == sorted(seqs)

        cast = await master.ok("broadcast", {"message": "round two starts"})
        assert cast["to"] == "all" and cast["type"] == "announce"
        for w in workers:
            got = await w.ok("read")
            assert got["count"] == 1, got
            assert got["messages"][0]["content"] == "round two starts"
            assert got["messages"][0]["from"] == "master" and got["messages"][0]["to"] == "all"
            assert (await w.ok("read"))["count"] == 0
        assert (await master.ok("read"))["count"] == 0  # not echoed to the sender


# 3. worktrees ----------------------------------------------------------------


def same(a: str | Path, b: str | Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


@asynctest
async def test_worktree_lifecycle(repo: Path) -> None:
    main_sha = git("rev-parse", "main", cwd=repo)
    async with fleet(repo) as f:
        master = await f.start("master")
        await master.register(role="master")

        wt1 = await master.ok("worktree_add", {"worker_id": "worker-1"})
        assert wt1["branch"] is None and wt1["commit"] == main_sha and wt1["base"] == "main"
        path1 = Path(wt1["path"])
        assert same(path1, repo.parent / ".intercomm-worktrees" / repo.name / "worker-1")
        assert (path1 / "README.md").is_file()
        assert git("rev-parse", "HEAD", cwd=path1) == main_sha
        assert git("branch", "--show-current", cwd=path1) == ""  # detached
        assert git("branch", "--list", "intercomm-tmp/*", cwd=repo) == ""  # no leftovers

        wt2 = await master.ok("worktree_add", {"worker_id": "worker-2", "branch": "feat-2"})
        path2 = Path(wt2["path"])
        assert wt2["branch"] == "feat-2"
        assert git("rev-parse", "feat-2", cwd=repo) == main_sha
        assert git("branch", "--show-current", cwd=path2) == "feat-2"

        listed = {w["worker_id"]: w for w in (await master.ok("worktree_list"))["worktrees"]}
        assert set(listed) == {"worker-1", "worker-2"}
        assert listed["worker-1"]["status"] == "active" and listed["worker-1"]["branch"] == ""
        assert listed["worker-2"]["branch"] == "feat-2"
        assert all(w["exists"] for w in listed.values())

        # A process started inside a linked worktree finds the main checkout's bus.
        inside = await f.start("inside-wt1", cwd=path1)
        seen = await inside.ok("status")
        assert same(seen["root"], repo)
        assert "master" in by_id(seen)

        # The worker makes its own branch and commit.
        git("switch", "-q", "-c", "w1", cwd=path1)
        (path1 / "w1.txt").write_text("work of worker-1\n")
        git("add", "w1.txt", cwd=path1)
        git("commit", "-q", "-m", "worker-1 work", cwd=path1)
        w1_sha = git("rev-parse", "w1", cwd=repo)
        assert w1_sha != main_sha

        done = await master.ok("worktree_set_status", {
            "worker_id": "worker-1", "status": "done", "branch": "w1",
        })
        assert done == {"worker_id": "worker-1", "status": "done", "branch": "w1", "commit": w1_sha}
        row = {w["worker_id"]: w for w in (await master.ok("worktree_list"))["worktrees"]}["worker-1"]
        assert (row["status"], row["branch"], row["head_commit"]) == ("done", "w1", w1_sha)
        assert by_id(await master.ok("status")).get("worker-1") is None  # no instance row

        bad = await master.err("worktree_set_status", {
            "worker_id": "worker-1", "status": "done", "branch": "no-such-branch",
        })
        assert bad["code"] == "git_refused" and "no-such-branch" in bad["message"]
        bad = await master.err("worktree_set_status", {"worker_id": "worker-9", "status": "done"})
        assert bad["code"] == "unknown_worktree"

        # Dirty worktrees are refused: untracked, then staged but uncommitted.
        (path1 / "scratch.txt").write_text("unsaved\n")
        refused = await master.err("worktree_remove", {"worker_id": "worker-1"})
        assert refused["code"] == "worktree_dirty" and "scratch.txt" in refused["message"]
        assert "force" in refused["hint"]
        assert (path1 / "scratch.txt").is_file()
        git("add", "scratch.txt", cwd=path1)
        refused = await master.err("worktree_remove", {"worker_id": "worker-1"})
        assert refused["code"] == "worktree_dirty"
        assert path1.is_dir()

        gone = await master.ok("worktree_remove", {"worker_id": "worker-1", "force": True})
        assert gone["worker_id"] == "worker-1" and gone["already"] is False
        assert not path1.exists()
        listing = git("worktree", "list", "--porcelain", cwd=repo)
        assert os.path.realpath(path1) not in listing and str(path1) not in listing
        assert git("rev-parse", "w1", cwd=repo) == w1_sha  # the branch is kept

        again = await master.ok("worktree_remove", {"worker_id": "worker-1"})
        assert again["already"] is True

        # A clean worktree needs no force.
        clean = await master.ok("worktree_remove", {"worker_id": "worker-2"})
        assert clean["already"] is False and not path2.exists()
        final = {w["worker_id"]: w["status"] for w in (await master.ok("worktree_list"))["worktrees"]}
        assert final == {"worker-1": "removed", "worker-2": "removed"}


# 4. master takeover (B3) -----------------------------------------------------


@asynctest
async def test_master_takeover_needs_force_and_revokes_the_old_master(repo: Path) -> None:
    async with fleet(repo) as f:
        first = await f.start("master-1")
        await first.register(role="master")
        workers = [await f.start(f"w{i}") for i in range(2)]
        for w in workers:
            await w.register()
        await first.ok("send", {"to": "worker-1", "message": "hello from the first master"})

        second = await f.start("master-2")
        refused = await second.err("register", {"role": "master"})
        assert refused["code"] == "master_alive"
        assert "force" in refused["text"]
        assert str(first.pid) in refused["message"]
        assert (await first.ok("clear", {"keep": 100}))["keep"] == 100  # still master

        taken = await second.register(role="master", force=True)
        assert taken["id"] == "master"
        assert taken["displaced_master_pid"] == first.pid
        assert taken["pid"] == second.pid != first.pid

        lost = await first.err("clear")
        assert lost["code"] == "identity_lost"
        assert str(second.pid) in lost["message"]
        assert "master powers are revoked" in lost["message"]
        # ...and stays lost: the old master cannot send either.
        assert (await first.err("send", {"to": "worker-1", "message": "x"}))["code"] == "not_registered"

        status = by_id(await second.ok("status"))
        assert status["master"]["pid"] == second.pid and status["master"]["alive"]
        for w in workers:
            assert status[w.id]["alive"] is True and status[w.id]["pid"] == w.pid
        # Workers keep their mail and can reach the new master.
        assert (await workers[0].ok("read"))["messages"][0]["content"] == "hello from the first master"
        await workers[1].ok("send", {"to": "master", "message": "still here"})
        got = await second.ok("read")
        assert [m["content"] for m in got["messages"]] == ["still here"]


# 5. escalate -----------------------------------------------------------------


@asynctest
async def test_escalate_persists_a_question_for_the_master(repo: Path) -> None:
    async with fleet(repo) as f:
        master = await f.start("master")
        await master.register(role="master")
        worker = await f.start("worker")
        await worker.register()

        esc = await worker.ok("escalate", {"message": "Which database should I use?"})
        assert esc["persisted"] is True and esc["master_alive"] is True and esc["woke"] is False
        esc2 = await worker.ok("escalate", {
            "message": "Ship on Friday?", "kind": "decision", "needs_user": True,
        })
        assert esc2["persisted"] is True and esc2["message_id"] != esc["message_id"]

        got = await master.ok("read")
        assert got["count"] == 2
        first, second = got["messages"]
        assert first["content"].startswith("[escalation kind=question]")
        assert first["content"].endswith("Which database should I use?")
        assert (first["type"], first["from"], first["id"]) == ("question", "worker-1", esc["message_id"])
        assert second["content"] == "[escalation kind=decision needs_user] Ship on Friday?"

        refused = await master.err("escalate", {"message": "help"})
        assert refused["code"] == "worker_only"
        blank = await worker.err("escalate", {"message": "  \n "})
        assert "`message`" in blank["message"]


# 6. errors name the field ----------------------------------------------------


@asynctest
async def test_errors_name_the_field(repo: Path) -> None:
    async with fleet(repo) as f:
        master = await f.start("master")
        await master.register(role="master")
        worker = await f.start("worker")
        await worker.register()

        e = await worker.err("send", {"message": "hi"})
        assert e["code"] == "invalid_argument" and "`to`" in e["message"]
        e = await worker.err("send", {"to": "nobody-here", "message": "hi"})
        assert e["code"] == "unknown_recipient" and "master" in e["hint"]

        for keep in (-1, "x"):
            e = await master.err("clear", {"keep": keep})
            assert e["code"] == "invalid_argument" and "`keep`" in e["message"], e
        assert (await master.ok("clear", {"keep": 0}))["keep"] == 0

        e = await master.err("assign", {
            "worker": "worker-1", "role_instructions": "   ", "target_type": "task",
            "target_slug": "t",
        })
        assert "role_instructions" in e["message"]
        e = await master.err("assign", {
            "worker": "worker-1", "role_instructions": "do it", "target_type": "epic",
            "target_slug": "t",
        })
        assert "`target_type`" in e["message"]
        assert (await worker.ok("read"))["count"] == 0  # nothing was stored

        contract = (
            '{"kind":"task_contract","v":2,"role":"worker","role_instructions":"x",'
            '"aimfp_target":{"type":"task","id":1},"reportBack":[]}'
        )
        e = await worker.err("send", {"to": "master", "type": "task", "message": contract})
        assert e["code"] == "invalid_argument" and "`type`" in e["message"]
        e = await worker.err("assign", {
            "worker": "worker-1", "role_instructions": "x", "target_type": "task", "target_id": 1,
        })
        assert e["code"] == "master_only"

        e = await worker.err("send", {"to": "master", "message": "x" * (MIB + 1)})
        assert "`message`" in e["message"] and str(MIB + 1) in e["message"]
        e = await master.err("broadcast", {"message": "y" * (MIB + 1)})
        assert "`message`" in e["message"]
        at_limit = await worker.ok("send", {"to": "master", "message": "z" * MIB})
        assert at_limit["type"] == "status"
        # A message at the limit comes in parts (a read page holds at most
        # 64 KiB of content); the rest is read by message id and offset.
        got = await master.ok("read")
        [part] = got["messages"]
        assert part["partial"]["offset"] == 0 and part["partial"]["total"] == MIB
        content, end = part["content"], part["partial"]["end"]
        while end < MIB:
            more = await master.ok("read", {"message_id": part["id"], "offset": end})
            [piece] = more["messages"]
            assert piece["partial"]["offset"] == end
            content, end = content + piece["content"], piece["partial"]["end"]
        assert content == "z" * MIB

        # Fleet tools on a bus with no tmux panes: refusals name what is missing,
        # read-only calls answer with an empty fleet.
        e = await master.err("spawn", {"count": 0})
        assert e["code"] == "invalid_argument" and "`count`" in e["message"]
        for tool, args in {"wake": {"worker": "worker-1", "message": "read"},
                           "approve": {"worker": "worker-1"}}.items():
            e = await master.err(tool, args)
            assert e["code"] == "no_pane", (tool, e)
        scanned = await master.ok("scan")
        assert scanned["panes"] == [] and scanned["need_attention"] == 0
        down = await master.ok("teardown")
        assert down["killed"] == [] and down["instances_ended"] == []
        e = await master.err("spawn", {"count": "two"})
        assert e["code"] == "invalid_argument" and "`count`" in e["message"]


# 7. liveness (B1/B14) --------------------------------------------------------


@asynctest
async def test_liveness_follows_the_process(repo: Path) -> None:
    async with fleet(repo) as f:
        master = await f.start("master")
        await master.register(role="master")
        leaver = await f.start("leaver")
        await leaver.register()
        victim = await f.start("victim")
        await victim.register()
        assert (leaver.id, victim.id) == ("worker-1", "worker-2")

        # Idle is not dead: liveness is the process, not a recent call.
        await anyio.sleep(1.2)
        assert by_id(await master.ok("status"))["worker-1"]["state"] == "alive"

        # The client exits: the server's stdin closes and it signs itself off.
        # (The SDK sends SIGTERM only after a 2 s grace, so this must be EOF's doing.)
        started = anyio.current_time()
        await leaver.close()
        assert anyio.current_time() - started < 2.0, "the server did not exit on EOF"
        view = await wait_for_state(master, "worker-1", "signed_off")
        assert view["alive"] is False and view["pid"] == leaver.pid
        with pytest.raises(ProcessLookupError):
            os.kill(leaver.pid, 0)

        # SIGKILL leaves the row active, but its process is gone.
        os.kill(victim.pid, signal.SIGKILL)
        view = await wait_for_state(master, "worker-2", "gone")
        assert view["alive"] is False and view["pid"] == victim.pid

        sent = await master.ok("send", {"to": "worker-2", "message": "are you there?"})
        assert sent["recipient_alive"] is False

        # The lowest free id is reused, with no inherited backlog (B8).
        newcomer = await f.start("newcomer")
        reg = await newcomer.register()
        assert reg["id"] == "worker-1"
        assert (await newcomer.ok("read"))["count"] == 0
        assert by_id(await master.ok("status"))["worker-1"]["state"] == "alive"


# 8. missing bus (S4) ---------------------------------------------------------


@asynctest
async def test_status_in_a_fresh_directory_creates_no_bus(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    async with fleet(fresh) as f:
        proc = await f.start("reader")
        result = await proc.call("status")
        assert not result.is_error
        assert result.content[0].text == "No instances registered."
        assert result.structured_content["instances"] == []
        assert result.structured_content["you"] is None
        assert same(result.structured_content["root"], fresh)
        assert (await proc.ok("worktree_list"))["worktrees"] == []
        assert (await proc.err("read"))["code"] == "not_registered"
        assert (await proc.err("send", {"to": "master", "message": "x"}))["code"] == "not_registered"
    assert not (fresh / ".intercomm-aimfp").exists()
    assert list(fresh.iterdir()) == []
