//! Task contract v2 against the reference vectors (exact error strings).

use intercomm::contract::{self, Contract};
use serde_json::Value;

use crate::support::TestResult;

fn vectors() -> TestResult<Value> {
    Ok(serde_json::from_str(include_str!(
        "../fixtures/reference/contract-vectors.json"
    ))?)
}

#[test]
fn parse_matches_every_reference_vector() -> TestResult {
    let v = vectors()?;
    let cases = v["parseTaskContract"].as_array().ok_or("no vectors")?;
    assert!(cases.len() >= 20);
    for case in cases {
        let content = case["content"].as_str().ok_or("content")?;
        let expected = &case["result"];
        match contract::parse(content) {
            Ok(c) => {
                assert_eq!(
                    expected["ok"], true,
                    "{content}: parsed, expected {expected}"
                );
                assert_eq!(serde_json::to_value(&c)?, expected["contract"], "{content}");
            }
            Err(e) => {
                assert_eq!(expected["ok"], false, "{content}: failed with {e}");
                assert_eq!(expected["error"], e, "{content}");
            }
        }
    }
    Ok(())
}

#[test]
fn build_matches_the_reference_wire_form() -> TestResult {
    let v = vectors()?;
    for case in v["buildTaskContract"].as_array().ok_or("no vectors")? {
        let input: Contract = serde_json::from_value(case["input"].clone())?;
        assert_eq!(
            contract::build(&input),
            case["output"].as_str().ok_or("output")?
        );
    }
    Ok(())
}
