//! Behaviour of the public API beyond the conformance vectors: templates, conditions,
//! error positions, limits and the context trait.

use slipway_expr::{
    Condition, Context, ErrorKind, Expr, MapContext, ParseOptions, StatusFunction, Template, Value,
    eval, parse_json,
};

fn ctx() -> MapContext {
    let github = parse_json(
        r#"{"ref": "refs/heads/main", "event_name": "push", "run_number": 7,
            "event": {"commits": [{"message": "fix"}, {"message": "docs"}]}}"#,
    )
    .unwrap();
    MapContext::new().with("github", github).with(
        "matrix",
        parse_json(r#"{"os": "linux", "n": 1.5, "list": [1, 2]}"#).unwrap(),
    )
}

fn opts() -> ParseOptions {
    ParseOptions::new().with_contexts(["github", "matrix", "env"])
}

fn render(src: &str) -> String {
    Template::parse(src, &opts())
        .unwrap()
        .render(&ctx())
        .unwrap()
}

#[test]
fn template_renders_text_and_coerced_values() {
    assert_eq!(
        render("build-${{ matrix.os }}-${{ github.run_number }}-${{ matrix.n }}"),
        "build-linux-7-1.5"
    );
    assert_eq!(render("[${{ env.missing }}]"), "[]");
    assert_eq!(render("${{ matrix.list }} ${{ matrix }}"), "Array Object");
    assert_eq!(
        render("plain text, no expressions"),
        "plain text, no expressions"
    );
}

#[test]
fn template_literal_and_single_value() {
    let opts = opts();
    assert!(Template::parse("just text", &opts).unwrap().is_literal());
    assert!(!Template::parse("${{ 1 }}", &opts).unwrap().is_literal());
    let single = Template::parse("${{ matrix.list }}", &opts).unwrap();
    assert_eq!(
        single.eval_single(&ctx()).unwrap(),
        Value::Array(vec![Value::Number(1.0), Value::Number(2.0)])
    );
    let mixed = Template::parse("x${{ matrix.list }}", &opts).unwrap();
    assert_eq!(mixed.eval_single(&ctx()).unwrap(), Value::from("xArray"));
}

#[test]
fn closing_braces_inside_strings_do_not_end_an_expression() {
    assert_eq!(render("${{ format('{{0}}}}', 'a') }}!"), "{0}}!");
    assert_eq!(render("${{ 'it''s }}' }}"), "it's }}");
}

#[test]
fn unclosed_template_expression_is_an_error_at_its_start() {
    let err = Template::parse("ab ${{ github.ref", &opts()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Parsing);
    assert_eq!(err.position, 4);
    let err = Template::parse("${{ '}} ' ", &opts()).unwrap_err();
    assert_eq!(err.position, 1);
}

#[test]
fn empty_template_expression_is_an_error() {
    let err = Template::parse("a ${{  }}", &opts()).unwrap_err();
    assert_eq!((err.kind, err.position), (ErrorKind::Parsing, 3));
}

#[test]
fn template_error_positions_count_from_the_whole_string() {
    // ')' is the 13th character of the template (the 5th of the expression).
    let err = Template::parse("ab ${{ 1 < ) }}", &opts()).unwrap_err();
    assert_eq!(err.message, "Unexpected symbol: ')'");
    assert_eq!(err.position, 12);
    // Positions are in characters, not bytes.
    let err = Template::parse("é€ ${{ nope }}", &opts()).unwrap_err();
    assert_eq!(err.message, "Unrecognized named-value: 'nope'");
    assert_eq!(err.position, 8);
    // The second expression's error is also located in the whole string.
    let err = Template::parse("${{ 1 }}-${{ 1 = 2 }}", &opts()).unwrap_err();
    assert_eq!((err.kind, err.position), (ErrorKind::Lexing, 16));
}

#[test]
fn expression_error_positions_and_display() {
    let err = Expr::parse("1 < )", &opts()).unwrap_err();
    assert_eq!((err.kind, err.position), (ErrorKind::Parsing, 5));
    assert_eq!(
        err.to_string(),
        "Unexpected symbol: ')'. Located at position 5"
    );
    let err = Expr::parse("github.ref == 'x' && nope()", &opts()).unwrap_err();
    assert_eq!(err.message, "Unrecognized function: 'nope'");
    assert_eq!(err.position, 22);
    let err = Expr::parse("contains('a')", &opts()).unwrap_err();
    assert_eq!(err.message, "Too few parameters supplied: 'contains'");
    let err = Expr::parse("'abc", &opts()).unwrap_err();
    assert_eq!((err.kind, err.position), (ErrorKind::Lexing, 1));
    let err = eval(&Expr::parse("format('{0')", &opts()).unwrap(), &ctx()).unwrap_err();
    assert_eq!((err.kind, err.position), (ErrorKind::Evaluation, 0));
    assert_eq!(
        err.to_string(),
        "The following format string is invalid: {0"
    );
}

#[test]
fn context_names_are_case_insensitive_and_checked() {
    let expr = Expr::parse("GitHub.Event_Name", &opts()).unwrap();
    assert_eq!(expr.eval(&ctx()).unwrap(), Value::from("push"));
    assert!(Expr::parse("secrets.token", &opts()).is_err());
    // Allowed but absent: null.
    assert_eq!(
        Expr::parse("env.X", &opts()).unwrap().eval(&ctx()).unwrap(),
        Value::Null
    );
}

#[test]
fn star_projection_and_contains() {
    let expr = Expr::parse(
        "contains(github.event.commits.*.message, 'DOCS') && join(github.event.commits.*.message, '+')",
        &opts(),
    )
    .unwrap();
    assert_eq!(expr.eval(&ctx()).unwrap(), Value::from("fix+docs"));
}

#[test]
fn depth_limit_is_an_error_not_a_crash() {
    let opts = opts();
    let ok = format!("{}1{}", "(".repeat(49), ")".repeat(49));
    assert!(Expr::parse(&ok, &opts).is_ok());
    let too_deep = format!("{}1{}", "(".repeat(51), ")".repeat(51));
    let err = Expr::parse(&too_deep, &opts).unwrap_err();
    assert_eq!(err.message, "Exceeded max expression depth 50");
    for hostile in [
        "(".repeat(20_000),
        "!".repeat(20_000),
        "github[".repeat(2_500),
        "format(".repeat(2_500),
        format!("github{}", ".a".repeat(10_000)),
    ] {
        let err = Expr::parse(&hostile, &opts).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Parsing, "{}", &hostile[..20]);
    }
}

#[test]
fn long_flat_chains_evaluate_without_deep_recursion() {
    let opts = opts();
    // Left to right: (2 == 2) is true, true == 2 is false, and false stays false.
    let chain = vec!["2"; 4_000].join(" == ");
    assert_eq!(
        Expr::parse(&chain, &opts).unwrap().eval(&ctx()).unwrap(),
        Value::Bool(false)
    );
    let ors = vec!["false"; 2_000].join(" || ");
    assert_eq!(
        Expr::parse(&ors, &opts).unwrap().eval(&ctx()).unwrap(),
        Value::Bool(false)
    );
}

#[test]
fn over_long_expression_is_rejected() {
    let long = format!("'{}'", "a".repeat(21_000));
    let err = Expr::parse(&long, &opts()).unwrap_err();
    assert_eq!(err.message, "Exceeded max expression length 21000");
}

#[test]
fn memory_limit_stops_runaway_text() {
    let big = MapContext::new().with("github", Value::from("x".repeat(10_000)));
    let opts = ParseOptions::new().with_contexts(["github"]);
    let src = format!("format('{}', github)", "{0}".repeat(60));
    let err = Expr::parse(&src, &opts).unwrap().eval(&big).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Evaluation);
    assert_eq!(err.message, "The maximum allowed memory size was exceeded");
    let fine = format!("format('{}', github)", "{0}".repeat(40));
    assert!(Expr::parse(&fine, &opts).unwrap().eval(&big).is_ok());
}

struct Failed;

impl Context for Failed {
    fn lookup(&self, _: &str) -> Option<&Value> {
        None
    }
    fn status(&self, f: StatusFunction) -> bool {
        matches!(f, StatusFunction::Failure | StatusFunction::Always)
    }
    fn hash_files(&self, patterns: &[String]) -> Result<String, String> {
        Ok(format!("hash:{}", patterns.join(",")))
    }
}

fn cond_opts() -> ParseOptions {
    opts().with_status_functions(true)
}

#[test]
fn conditions_bare_wrapped_and_empty() {
    let opts = cond_opts();
    for (src, expected) in [
        ("github.event_name == 'push'", true),
        ("${{ github.event_name == 'pull_request' }}", false),
        ("  ${{ github.ref }}  ", true),
        ("", true),
        ("   ", true),
        ("${{ false }} && false", true), // a template: the text "false && false" is non-empty
    ] {
        let cond = Condition::parse(src, &opts).unwrap();
        assert_eq!(cond.eval(&ctx()).unwrap(), expected, "{src:?}");
    }
}

#[test]
fn conditions_imply_success_unless_a_status_function_is_used() {
    let opts = cond_opts();
    let plain = Condition::parse("true", &opts).unwrap();
    assert!(!plain.uses_status_function());
    assert!(!plain.eval(&Failed).unwrap());
    assert!(!Condition::parse("", &opts).unwrap().eval(&Failed).unwrap());
    assert!(
        Condition::parse("failure()", &opts)
            .unwrap()
            .eval(&Failed)
            .unwrap()
    );
    assert!(
        Condition::parse("${{ always() }}", &opts)
            .unwrap()
            .eval(&Failed)
            .unwrap()
    );
    assert!(
        !Condition::parse("cancelled()", &opts)
            .unwrap()
            .eval(&Failed)
            .unwrap()
    );
    let mixed = Expr::parse("success() || github.ref", &opts).unwrap();
    assert!(mixed.uses_status_function());
}

#[test]
fn optional_functions_must_be_allowed() {
    let err = Condition::parse("always()", &opts()).unwrap_err();
    assert_eq!(err.message, "Unrecognized function: 'always'");
    assert!(Expr::parse("hashFiles('**/x')", &opts()).is_err());
    let with_hash = opts().with_hash_files(true);
    let expr = Expr::parse("hashFiles('a', 'b')", &with_hash).unwrap();
    assert_eq!(expr.eval(&Failed).unwrap(), Value::from("hash:a,b"));
    let err = expr.eval(&ctx()).unwrap_err();
    assert_eq!(err.message, "hashFiles is not available here");
    assert!(Expr::parse("success(1)", &cond_opts()).is_err());
}

#[test]
fn condition_error_positions_are_within_the_source() {
    let err = Condition::parse("  ${{ github.ref == ) }}", &cond_opts()).unwrap_err();
    assert_eq!(err.position, 21);
    let err = Condition::parse("github.ref == )", &cond_opts()).unwrap_err();
    assert_eq!(err.position, 15);
}

#[test]
fn values_convert_to_and_from_json() {
    let json = serde_json::json!({"a": [1, 2.5, null, true, "x"]});
    let value = Value::from(json.clone());
    assert_eq!(value.to_json(), json);
    assert!(value.is_truthy());
    assert_eq!(Value::Number(1e21).to_display_string(), "1e+21");
}
