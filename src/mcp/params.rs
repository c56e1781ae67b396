//! Tool parameters: the public contract of the MCP surface (additive changes
//! only). Names, types, defaults and enums are those of intercomm-aimfp 1.0.2
//! (reference `tool-schemas.json`); fields it did not have are marked "new".
//! Field doc comments become the schema's descriptions, which a model reads.
//!
//! Schemas are generated as JSON Schema draft-07 like the original's, with
//! `Option` fields shown as their plain type (optional, not nullable) and
//! enums inlined, by [`input_schema`].

use std::sync::Arc;

use rmcp::model::JsonObject;
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::bus::instances::Role;
use crate::bus::messages::MessageType;
use crate::bus::worktrees::WorktreeStatus;
use crate::contract::TargetType;
use crate::error::Error;
use crate::fleet::dialog::Choice;
use crate::fleet::spawn::PermMode;
use crate::ops::messaging::EscalationKind;

/// The input schema of a parameter type, as tools/list shows it.
pub fn input_schema<T: JsonSchema>() -> Arc<JsonObject> {
    let mut settings = SchemaSettings::draft07();
    settings.inline_subschemas = true;
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut value = serde_json::to_value(schema).unwrap_or(Value::Null);
    if let Some(props) = value.get_mut("properties").and_then(Value::as_object_mut) {
        props.values_mut().for_each(tidy_property);
    }
    let mut object = match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    };
    object.remove("title");
    object.remove("description");
    if !object.contains_key("properties") {
        object.remove("$schema");
        object.insert("properties".into(), Value::Object(JsonObject::new()));
    }
    Arc::new(object)
}

/// Shows an optional property as its plain type: no `null` in `type` or
/// `enum`, no `anyOf` with a null branch, no `default: null`, no `format`.
fn tidy_property(prop: &mut Value) {
    let Some(map) = prop.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(any)) = map.get("anyOf") {
        let non_null: Vec<Value> = any
            .iter()
            .filter(|s| s.get("type") != Some(&Value::String("null".into())))
            .cloned()
            .collect();
        if let [single] = non_null.as_slice() {
            let single = single.clone();
            map.remove("anyOf");
            if let Value::Object(inner) = single {
                for (k, v) in inner {
                    map.entry(k).or_insert(v);
                }
            }
        }
    }
    if let Some(Value::Array(types)) = map.get("type") {
        let kept: Vec<Value> = types
            .iter()
            .filter(|t| t.as_str() != Some("null"))
            .cloned()
            .collect();
        let ty = match kept.as_slice() {
            [one] => one.clone(),
            _ => Value::Array(kept),
        };
        map.insert("type".into(), ty);
    }
    if let Some(Value::Array(values)) = map.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
    if map.get("default") == Some(&Value::Null) {
        map.remove("default");
    }
    map.remove("format");
}

/// Deserialises tool arguments; a failure names the argument and what it
/// needed, e.g. "invalid `keep`: invalid type: string "x", expected i64".
pub fn parse<T: DeserializeOwned>(args: JsonObject) -> Result<T, Error> {
    let de = Value::Object(args);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner().to_string();
        // serde reports a missing field at the parent path.
        if let Some(field) = inner
            .strip_prefix("missing field `")
            .and_then(|s| s.strip_suffix('`'))
        {
            return Error::invalid(field, "is required");
        }
        if path == "." {
            Error::user("invalid_argument", format!("invalid arguments: {inner}"))
        } else {
            Error::invalid(&path, inner)
        }
    })
}

/// One tool's argument type, seen through its name: the parse of its
/// arguments (the value dropped) and its input schema.
#[derive(Clone, Copy)]
pub(crate) struct ToolArgs {
    /// The tool's name, e.g. `intercomm_send`.
    pub name: &'static str,
    /// [`parse`] into the tool's parameter type.
    pub parse: fn(JsonObject) -> Result<(), Error>,
    /// [`input_schema`] of the tool's parameter type.
    pub schema: fn() -> Arc<JsonObject>,
}

impl ToolArgs {
    const fn of<T: DeserializeOwned + JsonSchema>(name: &'static str) -> Self {
        Self {
            name,
            parse: parse_only::<T>,
            schema: input_schema::<T>,
        }
    }
}

fn parse_only<T: DeserializeOwned>(args: JsonObject) -> Result<(), Error> {
    parse::<T>(args).map(drop)
}

/// Every tool with its parameter type, in the order `tools.rs` declares them.
/// The router there is the source of truth; a test holds this table to it
/// (the same names, each with the same schema). It lets checks run over every tool's
/// arguments without a server, e.g. the fuzz targets (through
/// [`crate::fuzzing`]).
pub(crate) const TOOL_ARGS: [ToolArgs; 23] = [
    ToolArgs::of::<RegisterParams>("intercomm_register"),
    ToolArgs::of::<SendParams>("intercomm_send"),
    ToolArgs::of::<BroadcastParams>("intercomm_broadcast"),
    ToolArgs::of::<ReadParams>("intercomm_read"),
    ToolArgs::of::<NoParams>("intercomm_status"),
    ToolArgs::of::<NoParams>("intercomm_signoff"),
    ToolArgs::of::<NoParams>("intercomm_get_protocol"),
    ToolArgs::of::<ClearParams>("intercomm_clear"),
    ToolArgs::of::<AssignParams>("intercomm_assign"),
    ToolArgs::of::<WorktreeAddParams>("intercomm_worktree_add"),
    ToolArgs::of::<NoParams>("intercomm_worktree_list"),
    ToolArgs::of::<WorktreeSetStatusParams>("intercomm_worktree_set_status"),
    ToolArgs::of::<WorktreeRemoveParams>("intercomm_worktree_remove"),
    ToolArgs::of::<SpawnParams>("intercomm_spawn"),
    ToolArgs::of::<WakeParams>("intercomm_wake"),
    ToolArgs::of::<EscalateParams>("intercomm_escalate"),
    ToolArgs::of::<ScanParams>("intercomm_scan"),
    ToolArgs::of::<ApproveParams>("intercomm_approve"),
    ToolArgs::of::<TeardownParams>("intercomm_teardown"),
    ToolArgs::of::<ReplyParams>("intercomm_reply"),
    ToolArgs::of::<AskParams>("intercomm_ask"),
    ToolArgs::of::<SetSummaryParams>("intercomm_set_summary"),
    ToolArgs::of::<RespawnParams>("intercomm_respawn"),
];

fn default_true() -> bool {
    true
}

/// Register this Claude instance on the bus.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RegisterParams {
    /// `master` (one per project, talks to the user) or `worker` (the default).
    #[serde(default)]
    #[schemars(default)]
    pub role: Role,
    /// New. Take the master id even though the current master's process is
    /// alive. Reported, and the old master loses master powers at once.
    #[serde(default)]
    #[schemars(default)]
    pub force: bool,
}

fn type_status() -> MessageType {
    MessageType::Status
}
fn type_announce() -> MessageType {
    MessageType::Announce
}

/// Send a message to one instance.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SendParams {
    /// Recipient instance id, e.g. `master` or `worker-2`.
    pub to: String,
    /// Message text, at most 1 MiB.
    pub message: String,
    /// Message type. `task` is master-only and must be a task contract.
    #[serde(rename = "type", default = "type_status")]
    #[schemars(default = "type_status")]
    pub kind: MessageType,
}

/// Send a message to every other instance.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct BroadcastParams {
    /// Message text, at most 1 MiB.
    pub message: String,
    /// Message type.
    #[serde(rename = "type", default = "type_announce")]
    #[schemars(default = "type_announce")]
    pub kind: MessageType,
}

fn read_limit() -> i64 {
    crate::ops::messaging::READ_LIMIT_DEFAULT
}

/// Read your unread messages.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReadParams {
    /// Re-read from the start of the bus instead of from your cursor.
    #[serde(default)]
    #[schemars(default)]
    pub all: bool,
    /// New. Most messages to return at once (1–500); the result says how many more wait.
    #[serde(default = "read_limit")]
    #[schemars(default = "read_limit", range(min = 1, max = 500))]
    pub limit: i64,
    /// New. With offset: the rest of this one message (larger than a page), from byte offset; nothing is marked read.
    #[serde(default)]
    pub message_id: Option<String>,
    /// New. The byte offset in message_id's content to read from (the "offset" a partial message names).
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub offset: Option<u64>,
}

fn keep_default() -> i64 {
    100
}

/// Prune old messages.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ClearParams {
    /// How many of the newest messages to keep. Unread mail of active instances is always kept.
    #[serde(default = "keep_default")]
    #[schemars(default = "keep_default", range(min = 0))]
    pub keep: i64,
}

fn role_worker() -> String {
    "worker".to_owned()
}
fn report_back_default() -> Vec<String> {
    vec!["branch".to_owned(), "commit".to_owned()]
}

/// Assign a task contract to a worker.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AssignParams {
    /// The worker's id.
    pub worker: String,
    /// Role label the worker takes on.
    #[serde(default = "role_worker")]
    #[schemars(default = "role_worker")]
    pub role: String,
    /// What the worker must do and what it must not touch (non-blank).
    #[schemars(length(min = 1))]
    pub role_instructions: String,
    /// Kind of AIMFP entity the worker continues.
    pub target_type: TargetType,
    /// AIMFP id of the entity (give an id, a slug, or both).
    pub target_id: Option<i64>,
    /// AIMFP slug of the entity.
    pub target_slug: Option<String>,
    /// Facts the worker reports in its `done` message.
    #[serde(default = "report_back_default")]
    #[schemars(default = "report_back_default")]
    pub report_back: Vec<String>,
    /// Ring the worker's pane after storing the contract.
    #[serde(default = "default_true")]
    #[schemars(default = "default_true")]
    pub wake: bool,
}

fn base_main() -> String {
    "main".to_owned()
}

/// Create a git worktree for a worker.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct WorktreeAddParams {
    /// The worker's id; also the worktree's folder name.
    pub worker_id: String,
    /// Commit-ish to start from.
    #[serde(default = "base_main")]
    #[schemars(default = "base_main")]
    pub base: String,
    /// Folder for the worktree (relative paths are taken from the project root).
    /// Default: `<root>/../.intercomm-worktrees/<project folder name>/<worker_id>`.
    pub path: Option<String>,
    /// New. Create this branch at `base` and check it out, instead of a detached HEAD.
    pub branch: Option<String>,
}

/// Record a worktree's lifecycle status.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct WorktreeSetStatusParams {
    /// The worker's id.
    pub worker_id: String,
    /// New status.
    pub status: WorktreeStatus,
    /// The worker's branch; it must exist, and its commit is recorded.
    pub branch: Option<String>,
}

/// Remove a worker's worktree.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct WorktreeRemoveParams {
    /// The worker's id.
    pub worker_id: String,
    /// Remove even with uncommitted or untracked changes (they are lost).
    #[serde(default)]
    #[schemars(default)]
    pub force: bool,
}

fn prefix_worker() -> String {
    "worker".to_owned()
}
fn claude() -> String {
    "claude".to_owned()
}
fn ready_timeout() -> i64 {
    20
}

/// Spawn Claude Code workers in tmux.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SpawnParams {
    /// How many workers to start.
    #[schemars(range(min = 1))]
    pub count: i64,
    /// Session name prefix: workers are `<prefix>-N`.
    #[serde(default = "prefix_worker")]
    #[schemars(default = "prefix_worker")]
    pub prefix: String,
    /// Claude Code permission mode of each worker.
    #[serde(default)]
    #[schemars(default)]
    pub perm_mode: PermMode,
    /// The Claude Code command (split like a shell would split words; never run by a shell).
    #[serde(default = "claude")]
    #[schemars(default = "claude")]
    pub claude_cmd: String,
    /// Give each worker its own git worktree.
    #[serde(default)]
    #[schemars(default)]
    pub worktrees: bool,
    /// Commit-ish the worktrees start from.
    #[serde(default = "base_main")]
    #[schemars(default = "base_main")]
    pub worktree_base: String,
    /// Command run with `sh -c` in each worktree before Claude starts.
    pub bootstrap: Option<String>,
    /// Seconds to wait for each worker to boot.
    #[serde(default = "ready_timeout")]
    #[schemars(default = "ready_timeout", range(min = 1))]
    pub ready_timeout: i64,
    /// Send each worker its start-up prompt once it is ready.
    #[serde(default = "default_true")]
    #[schemars(default = "default_true")]
    pub wake: bool,
    /// New. Answer "Yes" if Claude asks whether to use the API key found in
    /// its environment (otherwise that dialog is left for you).
    #[serde(default)]
    #[schemars(default)]
    pub accept_api_key: bool,
    /// New. The host to start them on: a name from `intercomm host add`
    /// (reached over SSH), or `local` (the default: this machine).
    pub host: Option<String>,
}

/// Ring a worker's pane.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct WakeParams {
    /// The worker's id.
    pub worker: String,
    /// Short text to type at its prompt.
    pub message: String,
}

/// Ask the master for help.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct EscalateParams {
    /// The question or the decision needed (non-blank).
    #[schemars(length(min = 1))]
    pub message: String,
    /// `question` (you need information) or `decision` (you need a choice made).
    #[serde(default)]
    #[schemars(default)]
    pub kind: EscalationKind,
    /// The master must confer with the user before answering.
    #[serde(default)]
    #[schemars(default)]
    pub needs_user: bool,
}

/// Look at every worker pane.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ScanParams {
    /// Session name prefix of the fleet.
    #[serde(default = "prefix_worker")]
    #[schemars(default = "prefix_worker")]
    pub prefix: String,
}

fn approve_timeout() -> i64 {
    5
}

/// Answer a worker's dialog.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ApproveParams {
    /// The worker's id.
    pub worker: String,
    /// New. The answer: `yes` (allow once / trust / use / accept; approve a
    /// plan, keeping edits asked for; stay in auto mode), `always` (allow
    /// and don't ask again, where offered), `no` (refuse; keep planning;
    /// cancel auto mode's waiting action).
    #[serde(default)]
    #[schemars(default)]
    pub choice: Choice,
    /// Seconds to wait for the dialog to clear (or for the worker's hook to
    /// take a decision made on the bus).
    #[serde(default = "approve_timeout")]
    #[schemars(default = "approve_timeout", range(min = 1))]
    pub timeout: i64,
    /// New. The permission request to answer (from intercomm_scan); default:
    /// the worker's oldest request waiting on the bus.
    #[serde(default)]
    pub request_id: Option<String>,
    /// New. With `no`: why, told to the worker's model (only through its
    /// hook).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Stop the fleet.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct TeardownParams {
    /// Session name prefix of the fleet.
    #[serde(default = "prefix_worker")]
    #[schemars(default = "prefix_worker")]
    pub prefix: String,
    /// Also remove the workers' worktrees (one with uncommitted changes is kept and reported).
    #[serde(default)]
    #[schemars(default)]
    pub worktrees: bool,
    /// New. Remove worktrees even with uncommitted changes (they are lost).
    #[serde(default)]
    #[schemars(default)]
    pub force: bool,
}

fn type_answer() -> MessageType {
    MessageType::Answer
}

/// New tool. Answer a message.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReplyParams {
    /// The msg_id of the message you answer (it must have been sent to you).
    pub message_id: String,
    /// Your answer, at most 1 MiB.
    pub message: String,
    /// Message type of the reply.
    #[serde(rename = "type", default = "type_answer")]
    #[schemars(default = "type_answer")]
    pub kind: MessageType,
}

fn wait_default() -> i64 {
    90
}

/// New tool. Ask and wait for the answer.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AskParams {
    /// Who to ask: an instance id.
    pub to: String,
    /// The question.
    pub question: String,
    /// Seconds to wait for the answer (1-600).
    #[serde(default = "wait_default")]
    #[schemars(default = "wait_default", range(min = 1, max = 600))]
    pub wait_seconds: i64,
}

/// New tool. Say what you are working on.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SetSummaryParams {
    /// One line, at most 200 characters.
    pub text: String,
}

/// New tool. Restart a worker whose Claude is gone.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RespawnParams {
    /// The worker's id.
    pub worker: String,
}

/// A tool without parameters.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct NoParams {}
