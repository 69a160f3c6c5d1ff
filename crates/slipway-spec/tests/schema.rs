//! The committed `slipway.schema.json` must equal what the code generates.
//! Run with `UPDATE_SCHEMA=1` to rewrite it after changing the format.

use std::path::Path;

#[test]
fn committed_schema_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("slipway.schema.json");
    let generated = format!(
        "{}\n",
        serde_json::to_string_pretty(&slipway_spec::json_schema())
            .expect("a JSON value serialises")
    );
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date with the code; regenerate it with `UPDATE_SCHEMA=1 cargo test -p slipway-spec --test schema` and commit it",
        path.display()
    );
}

#[test]
fn schema_describes_every_job_key() {
    let schema = slipway_spec::json_schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let job = &schema["properties"]["jobs"]["additionalProperties"]["properties"];
    for key in [
        "needs",
        "matrix",
        "if",
        "steps",
        "timeout",
        "retry",
        "outputs",
        "artifacts",
        "inputs",
        "cache",
        "reports",
        "runs-on",
        "image",
        "services",
        "resources",
        "pull",
        "concurrency",
        "deploy",
    ] {
        assert!(
            job.get(key).is_some(),
            "job key {key} missing from the schema"
        );
    }
    assert!(schema["properties"]["concurrency"].is_object());
    let deploy = &job["deploy"]["properties"];
    for key in ["environment", "artifact", "image", "strategy"] {
        assert!(
            deploy.get(key).is_some(),
            "deploy key {key} missing from the schema"
        );
    }
    // A job is a steps job or a deploy job, never both.
    let kinds = &schema["properties"]["jobs"]["additionalProperties"]["oneOf"];
    assert_eq!(kinds[0]["required"], serde_json::json!(["steps"]));
    assert_eq!(kinds[1]["required"], serde_json::json!(["deploy"]));
    assert_eq!(kinds[1]["properties"]["steps"], serde_json::json!(false));
    let on = &schema["properties"]["on"]["oneOf"][2]["properties"];
    let tag_filter = &on["tag"]["oneOf"][1]["properties"];
    assert!(tag_filter.get("tags").is_some() && tag_filter.get("branches").is_none());
    let push_filter = &on["push"]["oneOf"][1]["properties"];
    assert!(push_filter.get("paths").is_some() && push_filter.get("tags").is_none());
}

#[test]
fn schema_describes_the_delivery_keys() {
    let schema = slipway_spec::json_schema();
    let job = &schema["properties"]["jobs"]["additionalProperties"];
    let approval = &job["properties"]["approval"]["properties"];
    for key in [
        "approvals",
        "approvers",
        "timeout",
        "on_timeout",
        "self_approval",
        "message",
        "inputs",
    ] {
        assert!(approval.get(key).is_some(), "approval key {key}");
    }
    assert_eq!(approval["approvals"]["maximum"], 20);
    // Steps, deploy or approval: exactly one kind; an approval job has none of the step keys.
    let kinds = &job["oneOf"];
    assert_eq!(kinds[2]["required"], serde_json::json!(["approval"]));
    for key in ["steps", "deploy", "runs-on", "timeout", "matrix"] {
        assert_eq!(
            kinds[2]["properties"][key],
            serde_json::json!(false),
            "{key}"
        );
    }
    assert_eq!(kinds[0]["properties"]["approval"], serde_json::json!(false));
    let deploy = &job["properties"]["deploy"]["properties"];
    let strategies = &deploy["strategy"]["oneOf"][1]["properties"];
    let canary = &strategies["canary"];
    assert_eq!(canary["required"], serde_json::json!(["steps"]));
    for key in ["canary_targets", "steps", "promote"] {
        assert!(canary["properties"].get(key).is_some(), "canary key {key}");
    }
    let step_kinds = &canary["properties"]["steps"]["items"]["oneOf"];
    assert_eq!(step_kinds.as_array().map(Vec::len), Some(3));
    let by_digest = &deploy["artifact"]["oneOf"][1];
    assert_eq!(by_digest["required"], serde_json::json!(["name", "digest"]));
}
