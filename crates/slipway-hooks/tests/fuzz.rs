//! Fuzz bodies run through proptest: `parse` and `verify` return, never panic, on any input.
//! Besides raw bytes, valid-looking payloads are truncated and corrupted, since random bytes
//! rarely get past the JSON parser.

use proptest::prelude::*;
use serde_json::json;
use slipway_hooks::{Forge, Parsed, parse, verify};

const EVENTS: &[(Forge, &str)] = &[
    (Forge::GitHub, "push"),
    (Forge::GitHub, "pull_request"),
    (Forge::GitHub, "ping"),
    (Forge::GitLab, "Push Hook"),
    (Forge::GitLab, "Tag Push Hook"),
    (Forge::GitLab, "Merge Request Hook"),
    (Forge::Gitea, "push"),
    (Forge::Gitea, "pull_request"),
];

fn forge() -> impl Strategy<Value = Forge> {
    prop_oneof![Just(Forge::GitHub), Just(Forge::GitLab), Just(Forge::Gitea)]
}

fn known_event() -> impl Strategy<Value = (Forge, &'static str)> {
    proptest::sample::select(EVENTS)
}

/// A body that every parser above would mostly accept: the union of their fields.
fn seed_body() -> Vec<u8> {
    json!({
        "ref": "refs/heads/main", "before": "0000", "after": "abcd", "deleted": false,
        "action": "opened", "number": 3, "total_commits": 2, "total_commits_count": 2,
        "commits": [{"added": ["a"], "modified": ["b"], "removed": ["c"]}],
        "repository": {"full_name": "o/r", "clone_url": "https://x/o/r.git", "html_url": "https://x/o/r"},
        "sender": {"login": "u"}, "user_username": "u", "user": {"username": "u"},
        "project": {"path_with_namespace": "o/r", "git_http_url": "https://x/o/r.git"},
        "pull_request": {"number": 3, "title": "t", "head": {"ref": "f", "sha": "abcd"}, "base": {"ref": "main"}},
        "object_attributes": {"iid": 3, "action": "open", "source_branch": "f", "target_branch": "main", "last_commit": {"id": "abcd"}}
    })
    .to_string()
    .into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(
        forge in forge(),
        event in "\\PC{0,24}",
        body in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let _ = parse(forge, &event, &body);
    }

    #[test]
    fn parse_never_panics_on_corrupted_payloads(
        (forge, event) in known_event(),
        cut in 0usize..1200,
        flips in proptest::collection::vec((0usize..1200, any::<u8>()), 0..6),
    ) {
        let mut body = seed_body();
        for (at, byte) in flips {
            if let Some(slot) = body.get_mut(at) {
                *slot = byte;
            }
        }
        body.truncate(cut);
        let _ = parse(forge, event, &body);
    }

    #[test]
    fn parse_never_panics_on_arbitrary_json(
        (forge, event) in known_event(),
        value in arbitrary_json(),
    ) {
        let _ = parse(forge, event, value.to_string().as_bytes());
        // The same value at each field the parsers read, inside an otherwise valid body.
        let seed: serde_json::Value = serde_json::from_slice(&seed_body()).unwrap_or_default();
        if let Some(object) = seed.as_object() {
            for key in object.keys() {
                let mut body = seed.clone();
                body[key.as_str()] = value.clone();
                let _ = parse(forge, event, body.to_string().as_bytes());
            }
        }
    }

    #[test]
    fn verify_never_panics(
        forge in forge(),
        header in proptest::option::of("\\PC{0,80}"),
        hex_like in "[0-9a-fA-Fg ]{0,70}",
        body in proptest::collection::vec(any::<u8>(), 0..256),
        secret in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let lookup = |name: &str| -> Option<String> {
            match name.len() % 2 {
                0 => header.clone(),
                _ => Some(format!("sha256={hex_like}")),
            }
        };
        let result = verify(forge, &lookup, &body, &secret);
        // Random input essentially never authenticates; an empty secret never does.
        if secret.is_empty() {
            prop_assert!(result.is_err());
        }
    }
}

#[test]
fn the_seed_body_is_accepted_so_corruptions_start_from_valid_input() {
    for &(forge, event) in EVENTS {
        let parsed = parse(forge, event, &seed_body());
        let ok = if event == "ping" {
            matches!(parsed, Ok(Parsed::Ignored { .. }))
        } else {
            matches!(parsed, Ok(Parsed::Event(_)))
        };
        assert!(ok, "{forge} {event}: {parsed:?}");
    }
}

fn arbitrary_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number)),
        "\\PC{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("ref".to_owned()),
                    Just("commits".to_owned()),
                    Just("added".to_owned()),
                    Just("head".to_owned()),
                    Just("sha".to_owned()),
                    Just("login".to_owned()),
                    "[a-z_]{1,8}".prop_map(String::from),
                ],
                inner,
                0..6,
            )
            .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}
