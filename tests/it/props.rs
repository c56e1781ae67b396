//! Hostile input: the contract parser and every tool take arbitrary input
//! without panicking, and rejections name what was wrong.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::{Map, Value, json};

use crate::support::*;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("task_contract"),
            Just("task"),
            Just("worker"),
            Just("2")
        ]
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("kind".to_owned()),
                    Just("v".to_owned()),
                    Just("role".to_owned()),
                    Just("role_instructions".to_owned()),
                    Just("reportBack".to_owned()),
                    Just("aimfp_target".to_owned()),
                    Just("type".to_owned()),
                    Just("id".to_owned()),
                    Just("slug".to_owned()),
                    ".{0,6}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn contract_parser_never_panics_on_text(s in ".{0,200}") {
        let _ = intercomm::contract::parse(&s);
    }

    #[test]
    fn contract_parser_accepts_only_what_rebuilds(v in json_value()) {
        let text = v.to_string();
        if let Ok(c) = intercomm::contract::parse(&text) {
            prop_assert_eq!(intercomm::contract::parse(&intercomm::contract::build(&c)), Ok(c));
        }
    }
}

fn args() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(
        prop_oneof![
            Just("to".to_owned()),
            Just("message".to_owned()),
            Just("type".to_owned()),
            Just("role".to_owned()),
            Just("keep".to_owned()),
            Just("worker".to_owned()),
            Just("worker_id".to_owned()),
            Just("role_instructions".to_owned()),
            Just("target_type".to_owned()),
            Just("target_id".to_owned()),
            Just("path".to_owned()),
            Just("branch".to_owned()),
            Just("status".to_owned()),
            Just("all".to_owned()),
            Just("limit".to_owned()),
            Just("count".to_owned()),
            "[a-z_]{1,8}"
        ],
        json_value(),
        0..6,
    )
    .prop_map(|m| m.into_iter().collect())
}

/// Random arguments to every tool, as master and as worker: each call comes
/// back as a result (success or a named error), never a crash or a hang.
#[test]
fn random_tool_arguments_never_break_the_server() -> TestResult {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let project = Project::git()?;
        let master = project.client().await?;
        register(&master, "master").await?;
        let worker = project.client().await?;
        register(&worker, "worker").await?;
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(300));
        let tools = all_tools()?;
        let strategy = (0..tools.len(), args(), any::<bool>());
        for _ in 0..300 {
            let (tool, args, as_master) = strategy
                .new_tree(&mut runner)
                .map_err(|e| e.to_string())?
                .current();
            let client = if as_master { &master } else { &worker };
            let result = call(client, &tools[tool], Value::Object(args.clone())).await?;
            if result.is_error == Some(true) {
                let e = &result
                    .structured_content
                    .as_ref()
                    .ok_or("no structured error")?["error"];
                assert!(
                    e["code"].is_string() && e["message"].is_string(),
                    "{}: {e}",
                    tools[tool]
                );
            }
        }
        // The server still answers normally afterwards.
        ok(&master, "intercomm_status", json!({})).await?;
        TestResult::Ok(())
    })
}
