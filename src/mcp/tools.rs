//! The 19 `intercomm_*` tools of the original, in its order, then the four
//! new ones (reply, ask, set_summary, respawn). Each is a few lines
//! over an operation (bus operations in [`crate::ops`], pane operations in
//! [`crate::fleet`]); descriptions are written for a model choosing a tool.

use rmcp::model::{CallToolResult, JsonObject, ProgressNotificationParam};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};

use super::params::*;
use super::{IntercommServer, failure, respond};
use crate::bus::instances::Role;
use crate::fleet::spawn::{self, SpawnRequest};
use crate::fleet::{ask, respawn, scan, teardown, wake};
use crate::ops::assign::AssignRequest;
use crate::ops::identity::{self, RegisterRequest};
use crate::ops::{Outcome, messaging, threads, worktree};
use crate::protocol::PROTOCOL;

type ToolResult = Result<CallToolResult, rmcp::ErrorData>;

/// The protocol text as an outcome.
#[derive(serde::Serialize)]
struct Protocol {
    protocol: &'static str,
}

impl Outcome for Protocol {
    fn text(&self) -> String {
        self.protocol.to_owned()
    }
}

#[tool_router(vis = "pub(super)")]
impl IntercommServer {
    #[tool(
        name = "intercomm_register",
        description = "Join the intercomm bus. Call once at start. role=\"master\" for the one instance that talks to the user and drives workers; everyone else calls it with no arguments and gets a worker id (a spawned worker gets its tmux session name). Taking over a master whose process is still alive needs force=true.",
        input_schema = input_schema::<RegisterParams>()
    )]
    async fn intercomm_register(&self, args: JsonObject) -> ToolResult {
        let p: RegisterParams = match parse(args) {
            Ok(p) => p,
            Err(e) => return Ok(failure(&e)),
        };
        let requested_id = match p.role {
            Role::Worker => crate::env::get(crate::env::WORKER_ID),
            Role::Master => None,
        };
        let registered = crate::fleet::with_ctx(&self.ctx, |ctx| {
            identity::register(
                ctx,
                RegisterRequest {
                    role: p.role,
                    force: p.force,
                    requested_id,
                },
            )
        });
        let registered = match registered {
            Ok(mut r) => {
                if let Some(pane) = r.displaced_master_pane.clone() {
                    r.displaced_master_told =
                        Some(crate::fleet::takeover::tell_displaced(&self.ctx, &pane).await);
                }
                Ok(r)
            }
            Err(e) => Err(e),
        };
        Ok(respond(registered))
    }

    #[tool(
        name = "intercomm_send",
        description = "Send a message to one instance by id (e.g. to=\"master\"). Types: status (progress), question, answer, done (completion report), announce; task is master-only and must be a task contract (prefer intercomm_assign). Returns the message id. To reach everyone use intercomm_broadcast.",
        input_schema = input_schema::<SendParams>()
    )]
    async fn intercomm_send(&self, args: JsonObject) -> ToolResult {
        Ok(self.call(args, |ctx, p: SendParams| {
            messaging::send(ctx, &p.to, &p.message, p.kind)
        }))
    }

    #[tool(
        name = "intercomm_broadcast",
        description = "Send a message to every other registered instance (not echoed back to you).",
        input_schema = input_schema::<BroadcastParams>()
    )]
    async fn intercomm_broadcast(&self, args: JsonObject) -> ToolResult {
        Ok(self.call(args, |ctx, p: BroadcastParams| {
            messaging::broadcast(ctx, &p.message, p.kind)
        }))
    }

    #[tool(
        name = "intercomm_read",
        description = "Read your unread messages, oldest first, and mark them read. Task contracts are checked and shown under their message. Call it whenever you are woken. all=true re-reads from the start of the bus.",
        input_schema = input_schema::<ReadParams>()
    )]
    async fn intercomm_read(&self, args: JsonObject) -> ToolResult {
        Ok(
            self.call(args, |ctx, p: ReadParams| match (p.message_id, p.offset) {
                (Some(id), offset) => messaging::read_rest(ctx, &id, offset.unwrap_or(0) as usize),
                (None, Some(_)) => Err(crate::error::Error::invalid(
                    "offset",
                    "needs message_id (the message to read the rest of)",
                )),
                (None, None) => messaging::read(ctx, p.all, p.limit, true),
            }),
        )
    }

    #[tool(
        name = "intercomm_status",
        description = "List every instance on the bus: id, role, alive or gone, idle time, tmux pane, worktree and branch, unread count; and which one you are. Needs no registration.",
        input_schema = input_schema::<NoParams>(),
        annotations(read_only_hint = true)
    )]
    async fn intercomm_status(&self, args: JsonObject) -> ToolResult {
        Ok(self.call(args, |ctx, _: NoParams| identity::status(ctx)))
    }

    #[tool(
        name = "intercomm_signoff",
        description = "Leave the bus: your instance is marked inactive and this process may register again.",
        input_schema = input_schema::<NoParams>()
    )]
    async fn intercomm_signoff(&self, args: JsonObject) -> ToolResult {
        Ok(self.call(args, |ctx, _: NoParams| identity::signoff(ctx)))
    }

    #[tool(
        name = "intercomm_get_protocol",
        description = "Return the intercomm master/worker protocol (the same text as this server's instructions). Re-read it when unsure what your role may do.",
        input_schema = input_schema::<NoParams>(),
        annotations(read_only_hint = true)
    )]
    async fn intercomm_get_protocol(&self, args: JsonObject) -> ToolResult {
        Ok(self.call(args, |_, _: NoParams| Ok(Protocol { protocol: PROTOCOL })))
    }

    #[tool(
        name = "intercomm_clear",
        description = "Master only. Delete old messages, keeping the newest `keep`. Messages an active instance has not read are never deleted, and nothing sent afterwards is affected.",
        input_schema = input_schema::<ClearParams>()
    )]
    async fn intercomm_clear(&self, args: JsonObject) -> ToolResult {
        Ok(self.call(args, |ctx, p: ClearParams| messaging::clear(ctx, p.keep)))
    }

    #[tool(
        name = "intercomm_assign",
        description = "Master only. Give a worker its task: builds a v2 task contract pointing at an AIMFP entity (target_type plus target_id and/or target_slug), validates it, stores it in the worker's inbox and wakes the worker.",
        input_schema = input_schema::<AssignParams>()
    )]
    async fn intercomm_assign(&self, args: JsonObject) -> ToolResult {
        let p: AssignParams = match parse(args) {
            Ok(p) => p,
            Err(e) => return Ok(failure(&e)),
        };
        let req = AssignRequest {
            worker: p.worker,
            role: p.role,
            role_instructions: p.role_instructions,
            target_type: p.target_type,
            target_id: p.target_id,
            target_slug: p.target_slug,
            report_back: p.report_back,
            wake: p.wake,
        };
        Ok(respond(wake::assign(&self.ctx, req).await))
    }

    #[tool(
        name = "intercomm_worktree_add",
        description = "Master only. Create a git worktree for a worker (detached at `base`, or on a new `branch`) under <root>/../.intercomm-worktrees/<project folder name>/<worker_id>, and record it.",
        input_schema = input_schema::<WorktreeAddParams>()
    )]
    async fn intercomm_worktree_add(&self, args: JsonObject) -> ToolResult {
        Ok(self.call(args, |ctx, p: WorktreeAddParams| {
            worktree::add(
                ctx,
                worktree::AddRequest {
                    worker_id: p.worker_id,
                    base: p.base,
                    path: p.path,
                    branch: p.branch,
                },
            )
        }))
    }

    #[tool(
        name = "intercomm_worktree_list",
        description = "List recorded worker worktrees with status, branch and commit, base and path.",
        input_schema = input_schema::<NoParams>(),
        annotations(read_only_hint = true)
    )]
    async fn intercomm_worktree_list(&self, args: JsonObject) -> ToolResult {
        Ok(self.call(args, |ctx, _: NoParams| worktree::list(ctx)))
    }

    #[tool(
        name = "intercomm_worktree_set_status",
        description = "Master only. Record where a worker's worktree is in the merge lifecycle (active, done, queued, merging, verifying, merged, conflict, failed, removed); with `branch`, the branch must exist and its commit is recorded.",
        input_schema = input_schema::<WorktreeSetStatusParams>()
    )]
    async fn intercomm_worktree_set_status(&self, args: JsonObject) -> ToolResult {
        let p: WorktreeSetStatusParams = match parse(args) {
            Ok(p) => p,
            Err(e) => return Ok(failure(&e)),
        };
        // A worker on another host: its branch is fetched back first.
        Ok(respond(
            crate::fleet::transfer::set_status(
                &self.ctx,
                &p.worker_id,
                p.status,
                p.branch.as_deref(),
            )
            .await,
        ))
    }

    #[tool(
        name = "intercomm_worktree_remove",
        description = "Master only. Remove a worker's worktree folder (its branch is kept). Refuses when it has uncommitted or untracked changes unless force=true.",
        input_schema = input_schema::<WorktreeRemoveParams>()
    )]
    async fn intercomm_worktree_remove(&self, args: JsonObject) -> ToolResult {
        Ok(self.call(args, |ctx, p: WorktreeRemoveParams| {
            worktree::remove(ctx, &p.worker_id, p.force)
        }))
    }

    #[tool(
        name = "intercomm_spawn",
        description = "Master only. Start `count` Claude Code workers in tmux sessions <prefix>-N (optionally each in its own worktree), clear their start-up dialogs and wake them.",
        input_schema = input_schema::<SpawnParams>()
    )]
    async fn intercomm_spawn(
        &self,
        args: JsonObject,
        context: RequestContext<RoleServer>,
    ) -> ToolResult {
        let p: SpawnParams = match parse(args) {
            Ok(p) => p,
            Err(e) => return Ok(failure(&e)),
        };
        let req = SpawnRequest {
            count: p.count,
            prefix: p.prefix,
            perm_mode: p.perm_mode,
            claude_cmd: p.claude_cmd,
            worktrees: p.worktrees,
            worktree_base: p.worktree_base,
            bootstrap: p.bootstrap,
            ready_timeout_secs: p.ready_timeout,
            wake: p.wake,
            accept_api_key: p.accept_api_key,
            host: p.host,
        };
        let Some(token) = context.meta.get_progress_token() else {
            return Ok(respond(spawn::spawn(&self.ctx, req, None).await));
        };
        // Forward progress lines as MCP progress notifications while spawning.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let peer = context.peer.clone();
        let forward = async move {
            let mut n = 0.0;
            while let Some(line) = rx.recv().await {
                n += 1.0;
                let note = ProgressNotificationParam::new(token.clone(), n).with_message(line);
                if let Err(err) = peer.notify_progress(note).await {
                    tracing::debug!(target: "mcp", %err, "progress notification not sent");
                }
            }
        };
        let (result, ()) = tokio::join!(spawn::spawn(&self.ctx, req, Some(tx)), forward);
        Ok(respond(result))
    }

    #[tool(
        name = "intercomm_wake",
        description = "Master only. Ring a worker's pane with a short prompt (only when Claude is idle at its prompt; never into a shell or a dialog). Put content in a message first; the wake just tells it to read.",
        input_schema = input_schema::<WakeParams>()
    )]
    async fn intercomm_wake(&self, args: JsonObject) -> ToolResult {
        let p: WakeParams = match parse(args) {
            Ok(p) => p,
            Err(e) => return Ok(failure(&e)),
        };
        Ok(respond(wake::wake(&self.ctx, &p.worker, &p.message).await))
    }

    #[tool(
        name = "intercomm_escalate",
        description = "Worker only. Ask the master for help when blocked: stores a question for the master first, then rings the master's pane. Use kind=\"decision\" when you need a choice made, needs_user=true when only the user can answer. Then stop and wait; do not poll.",
        input_schema = input_schema::<EscalateParams>()
    )]
    async fn intercomm_escalate(&self, args: JsonObject) -> ToolResult {
        let p: EscalateParams = match parse(args) {
            Ok(p) => p,
            Err(e) => return Ok(failure(&e)),
        };
        Ok(respond(
            wake::escalate(&self.ctx, &p.message, p.kind, p.needs_user).await,
        ))
    }

    #[tool(
        name = "intercomm_scan",
        description = "Master only. Show the state of every worker pane (ready, running, blocked on a permission prompt with its command, on a dialog, exited) and which need attention.",
        input_schema = input_schema::<ScanParams>(),
        annotations(read_only_hint = true)
    )]
    async fn intercomm_scan(&self, args: JsonObject) -> ToolResult {
        let p: ScanParams = match parse(args) {
            Ok(p) => p,
            Err(e) => return Ok(failure(&e)),
        };
        Ok(respond(scan::scan(&self.ctx, &p.prefix).await))
    }

    #[tool(
        name = "intercomm_approve",
        description = "Master only. Answer the dialog or permission prompt on one worker's pane, after you have read what it asks (see intercomm_scan). A permission request waiting on the bus (scan state `waiting`) is answered through the worker's hook, with no key sent; `no` can carry a reason for the worker's model.",
        input_schema = input_schema::<ApproveParams>()
    )]
    async fn intercomm_approve(&self, args: JsonObject) -> ToolResult {
        let p: ApproveParams = match parse(args) {
            Ok(p) => p,
            Err(e) => return Ok(failure(&e)),
        };
        Ok(respond(
            scan::approve(
                &self.ctx,
                &p.worker,
                p.choice,
                p.timeout,
                p.request_id.as_deref(),
                p.reason.as_deref(),
            )
            .await,
        ))
    }

    #[tool(
        name = "intercomm_teardown",
        description = "Master only. Stop the workers this bus spawned (never other tmux sessions), optionally remove their worktrees, and mark them gone.",
        input_schema = input_schema::<TeardownParams>()
    )]
    async fn intercomm_teardown(&self, args: JsonObject) -> ToolResult {
        let p: TeardownParams = match parse(args) {
            Ok(p) => p,
            Err(e) => return Ok(failure(&e)),
        };
        Ok(respond(
            teardown::teardown(&self.ctx, &p.prefix, p.worktrees, p.force).await,
        ))
    }

    #[tool(
        name = "intercomm_reply",
        description = "Answer a message you received (by its msg_id): the reply goes to its sender, linked with in_reply_to. Works for direct messages and broadcasts.",
        input_schema = input_schema::<ReplyParams>()
    )]
    async fn intercomm_reply(&self, args: JsonObject) -> ToolResult {
        Ok(self.call(args, |ctx, p: ReplyParams| {
            threads::reply(ctx, &p.message_id, &p.message, p.kind)
        }))
    }

    #[tool(
        name = "intercomm_ask",
        description = "Ask an instance a question and wait (up to wait_seconds, default 90) for its intercomm_reply. Returns the answer, or \"no answer yet\" with the question id: the late answer still arrives through intercomm_read. Workers asking the master: use this or intercomm_escalate.",
        input_schema = input_schema::<AskParams>()
    )]
    async fn intercomm_ask(&self, args: JsonObject) -> ToolResult {
        let p: AskParams = match parse(args) {
            Ok(p) => p,
            Err(e) => return Ok(failure(&e)),
        };
        Ok(respond(
            ask::ask(&self.ctx, &p.to, &p.question, p.wait_seconds).await,
        ))
    }

    #[tool(
        name = "intercomm_set_summary",
        description = "Say in one line (at most 200 characters) what you are working on; status and scan show it. Set it when you start a task and when your focus changes.",
        input_schema = input_schema::<SetSummaryParams>()
    )]
    async fn intercomm_set_summary(&self, args: JsonObject) -> ToolResult {
        Ok(self.call(args, |ctx, p: SetSummaryParams| {
            threads::set_summary(ctx, &p.text)
        }))
    }

    #[tool(
        name = "intercomm_respawn",
        description = "Master only. Restart a worker whose Claude exited or whose pane died: same id, same worktree, resuming its Claude conversation; its unread mail waits for it. Refused while the worker is alive.",
        input_schema = input_schema::<RespawnParams>()
    )]
    async fn intercomm_respawn(&self, args: JsonObject) -> ToolResult {
        let p: RespawnParams = match parse(args) {
            Ok(p) => p,
            Err(e) => return Ok(failure(&e)),
        };
        Ok(respond(respawn::respawn(&self.ctx, &p.worker).await))
    }
}
