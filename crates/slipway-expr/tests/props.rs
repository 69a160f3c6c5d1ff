//! Property tests: no input makes the parsers or the evaluator panic, and generated
//! well-formed expressions always parse and evaluate.

use proptest::prelude::*;
use slipway_expr::{Condition, Expr, MapContext, ParseOptions, Template, parse_json};

fn opts() -> ParseOptions {
    ParseOptions::new()
        .with_contexts(["github", "matrix"])
        .with_status_functions(true)
        .with_hash_files(true)
}

fn ctx() -> MapContext {
    MapContext::new()
        .with(
            "github",
            parse_json(r#"{"ref": "refs/heads/main", "n": 3, "list": [1, "two", {"k": null}], "obj": {"A": [true]}}"#)
                .unwrap(),
        )
        .with("matrix", parse_json(r#"{"os": "linux"}"#).unwrap())
}

/// Text biased towards the language's own symbols, so the fuzzing reaches deep states.
fn expression_like_text() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "(",
        ")",
        "[",
        "]",
        ",",
        ".",
        "*",
        "!",
        "!=",
        "==",
        "=",
        "<",
        "<=",
        ">",
        ">=",
        "&&",
        "||",
        "&",
        "|",
        "'",
        "''",
        " ",
        "\n",
        "1",
        "-2.5",
        "0x1f",
        ".5",
        "1e3",
        "NaN",
        "Infinity",
        "true",
        "false",
        "null",
        "github",
        "matrix",
        "ref",
        "format",
        "join",
        "contains",
        "case",
        "fromJSON",
        "toJSON",
        "startsWith",
        "success",
        "hashFiles",
        "{0}",
        "{",
        "}",
        "${{",
        "}}",
        "é",
        "😀",
        "ı",
        "\u{a0}",
    ]);
    prop::collection::vec(pieces, 0..40).prop_map(|p| p.concat())
}

/// Well-formed expressions over the test contexts, nested a few levels.
fn well_formed() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(vec![
        "1",
        "0",
        "-1.5",
        "NaN",
        "Infinity",
        "true",
        "false",
        "null",
        "'abc'",
        "'ABC'",
        "''",
        "'3'",
        "github",
        "github.ref",
        "github.n",
        "github.list",
        "github.list[1]",
        "github.obj.a",
        "github.list.*",
        "github['REF']",
        "matrix.os",
        "matrix.missing",
        "success()",
        "failure()",
    ])
    .prop_map(str::to_owned);
    leaf.prop_recursive(5, 64, 4, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec!["==", "!=", "<", "<=", ">", ">=", "&&", "||"]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            inner.clone().prop_map(|a| format!("!({a})")),
            inner.clone().prop_map(|a| format!("({a})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("contains({a}, {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("startsWith({a}, {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("join({a}, {b})")),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| format!("format('{{0}}-{{1}}', {a}, {b})")),
            inner.clone().prop_map(|a| format!("toJSON({a})")),
            inner.clone().prop_map(|a| format!("fromJSON(toJSON({a}))")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("case({a} == {b}, {a}, {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a})[{b}]")),
            inner.prop_map(|a| format!("({a}).*")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(src in any::<String>()) {
        let opts = opts();
        if let Ok(expr) = Expr::parse(&src, &opts) {
            let _ = expr.eval(&ctx());
        }
        if let Ok(template) = Template::parse(&src, &opts) {
            let _ = template.render(&ctx());
        }
        if let Ok(cond) = Condition::parse(&src, &opts) {
            let _ = cond.eval(&ctx());
        }
    }

    #[test]
    fn expression_like_text_never_panics(src in expression_like_text()) {
        let opts = opts();
        match Expr::parse(&src, &opts) {
            Ok(expr) => { let _ = expr.eval(&ctx()); }
            Err(e) => prop_assert!(e.position <= src.chars().count() + 1, "{e:?}"),
        }
        let wrapped = format!("pre ${{{{ {src} }}}} post");
        if let Ok(template) = Template::parse(&wrapped, &opts) {
            let _ = template.eval_single(&ctx());
        }
        if let Ok(cond) = Condition::parse(&src, &opts) {
            let _ = cond.eval(&ctx());
        }
    }

    #[test]
    fn well_formed_expressions_parse_and_evaluate(src in well_formed()) {
        let opts = opts();
        let expr = Expr::parse(&src, &opts);
        prop_assert!(expr.is_ok(), "{src}: {expr:?}");
        if let Ok(expr) = expr {
            // Evaluation may fail (e.g. a case predicate that is not boolean) but never panics,
            // and the truthiness shortcut agrees with the full value.
            let value = expr.eval(&ctx());
            let truthy = expr.eval_truthy(&ctx());
            match (value, truthy) {
                (Ok(v), Ok(t)) => prop_assert_eq!(v.is_truthy(), t),
                (Err(a), Err(b)) => prop_assert_eq!(a, b),
                (v, t) => prop_assert!(false, "{src}: {v:?} vs {t:?}"),
            }
            let template = Template::parse(&format!("x ${{{{ {src} }}}} y"), &opts);
            prop_assert!(template.is_ok(), "{src}: {template:?}");
        }
    }
}
