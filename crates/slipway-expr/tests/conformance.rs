//! Runs the GitHub Actions expression vectors from actions/languageservices
//! (`expressions/testdata`) kept in the shared conformance folder.
//!
//! Each case is lexed and parsed with the case's context names allowed, then evaluated.
//! Errors are compared as the reference harness does: the kind must match, and the
//! expected text must be contained in `"<message>. Located at position <n> within
//! expression: <expr>"` (or `"<message>. Located within expression: <expr>"`).

use std::path::{Path, PathBuf};

use slipway_expr::{
    ErrorKind, Expr, ExprError, MapContext, Object, ParseOptions, Value, parse_json,
};

/// Cases the reference TypeScript evaluator marks as not applicable to it (`"skip":
/// ["typescript"]`). They are skipped by name, as the reference run does, so the pass
/// figures are comparable; each reason says why the marker exists. They are still run
/// and reported (not asserted), since they describe GitHub's own runner.
const SKIPPED: &[(&str, &str)] = &[
    (
        "syntax-errors/parsing-errors#25",
        "TypeScript-only skip: its lexer counts positions per line, the vector expects absolute positions",
    ),
    (
        "syntax-errors/parsing-errors#26",
        "TypeScript-only skip: per-line positions (see #25)",
    ),
    (
        "syntax-errors/parsing-errors#27",
        "TypeScript-only skip: per-line positions (see #25)",
    ),
    (
        "syntax-errors/parsing-errors#28",
        "TypeScript-only skip: per-line positions (see #25)",
    ),
    (
        "syntax-errors/memory-errors#0",
        "TypeScript-only skip: the TypeScript evaluator has no memory limit",
    ),
];

fn conformance_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("SLIPWAY_CONFORMANCE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance"),
    };
    let dir = dir.join("gha-expressions");
    dir.is_dir().then_some(dir)
}

#[test]
fn gha_expression_vectors() {
    let Some(dir) = conformance_dir() else {
        println!(
            "skipped: conformance data not found (set SLIPWAY_CONFORMANCE_DIR or place shared/ beside the checkout)"
        );
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read conformance dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();

    let (mut passed, mut skipped) = (0, 0);
    let mut skipped_outcomes = Vec::new();
    let mut failures = Vec::new();
    for file in &files {
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let text = std::fs::read_to_string(file).expect("read vector file");
        let Value::Object(tests) = parse_json(&text).expect("vector file is JSON") else {
            panic!("{stem}: top level is not an object");
        };
        for (name, cases) in tests.iter() {
            let Value::Array(cases) = cases else {
                panic!("{stem}/{name}: not a list");
            };
            for (i, case) in cases.iter().enumerate() {
                let id = format!("{stem}/{name}#{i}");
                if SKIPPED.iter().any(|(skip, _)| *skip == id) {
                    skipped += 1;
                    let outcome = match run_case(case) {
                        Ok(()) => "passes anyway".to_owned(),
                        Err(why) => format!("does not pass: {why}"),
                    };
                    skipped_outcomes.push(format!("{id}: {outcome}"));
                    continue;
                }
                match run_case(case) {
                    Ok(()) => passed += 1,
                    Err(why) => failures.push(format!("{id}: {why}")),
                }
            }
        }
    }
    println!(
        "gha-expressions: {passed} passed, {} failed, {skipped} skipped",
        failures.len()
    );
    for (id, reason) in SKIPPED {
        println!("  skipped {id}: {reason}");
    }
    for outcome in &skipped_outcomes {
        println!("  skipped vector {outcome}");
    }
    assert!(
        failures.is_empty(),
        "failing vectors:\n{}",
        failures.join("\n")
    );
    assert!(passed > 1000, "too few vectors ran: {passed}");
}

fn field<'v>(case: &'v Value, key: &str) -> Option<&'v Value> {
    match case {
        Value::Object(o) => o.get(key),
        _ => None,
    }
}

fn str_field<'v>(case: &'v Value, key: &str) -> Option<&'v str> {
    match field(case, key) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

fn run_case(case: &Value) -> Result<(), String> {
    let expr_text = str_field(case, "expr").ok_or("case has no expr")?;
    let contexts = match field(case, "contexts") {
        Some(Value::Object(o)) => o.clone(),
        _ => Object::new(),
    };
    let ctx = MapContext::from(contexts);
    let opts = ParseOptions::new().with_contexts(ctx.names());
    let outcome = Expr::parse(expr_text, &opts).and_then(|e| e.eval(&ctx));

    if let Some(err) = field(case, "err") {
        let kind = str_field(err, "kind").unwrap_or_default();
        let expected = str_field(err, "value").unwrap_or_default();
        let e = match outcome {
            Ok(v) => return Err(format!("expected {kind} error {expected:?}, got {v:?}")),
            Err(e) => e,
        };
        let got_kind = match e.kind {
            ErrorKind::Lexing => "lexing",
            ErrorKind::Parsing => "parsing",
            ErrorKind::Evaluation => "evaluation",
        };
        let full = with_location(&e, expr_text);
        if got_kind != kind || !full.contains(expected) {
            return Err(format!(
                "expected {kind} error {expected:?}, got {got_kind} error {full:?}"
            ));
        }
        return Ok(());
    }

    let result = field(case, "result").ok_or("case has neither result nor err")?;
    let kind = str_field(result, "kind").unwrap_or_default();
    let expected = field(result, "value").cloned().unwrap_or(Value::Null);
    let got = outcome.map_err(|e| format!("unexpected error: {}", with_location(&e, expr_text)))?;
    if got.kind_name() != kind || !same(&got, &expected) {
        return Err(format!("expected {kind} {expected:?}, got {got:?}"));
    }
    Ok(())
}

/// The reference harness's rendering of an error.
fn with_location(e: &ExprError, expr: &str) -> String {
    if e.position > 0 {
        format!(
            "{}. Located at position {} within expression: {expr}",
            e.message, e.position
        )
    } else {
        format!("{}. Located within expression: {expr}", e.message)
    }
}

/// Equality as the reference compares `JSON.stringify` output: -0 equals 0, key order
/// and key spelling matter.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || (x.is_nan() && y.is_nan()),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        }
        _ => a == b,
    }
}
