//! Property tests: `parse_pipeline` never panics, on arbitrary text and on YAML-shaped input
//! built from the format's own keys, and its diagnostics always render.

use proptest::prelude::*;

const KEYS: &[&str] = &[
    "name",
    "on",
    "env",
    "jobs",
    "push",
    "branches",
    "schedule",
    "cron",
    "manual",
    "inputs",
    "type",
    "default",
    "options",
    "build",
    "test",
    "needs",
    "matrix",
    "include",
    "exclude",
    "os",
    "if",
    "steps",
    "run",
    "id",
    "timeout",
    "retry",
    "continue-on-error",
    "outputs",
    "artifacts",
    "cache",
    "key",
    "paths",
    "reports",
    "junit",
    "shell",
    "workdir",
    "runs-on",
    "image",
    "services",
    "db",
    "command",
    "health",
    "interval",
    "resources",
    "cpus",
    "memory",
    "pull",
    "nedes",
    "A",
    "-x",
    "<<",
];

const SCALARS: &[&str] = &[
    "make",
    "build",
    "test",
    "~",
    "true",
    "no",
    "12",
    "-1",
    "1.5",
    ".inf",
    "90s",
    "1h30m",
    "bash",
    "docker",
    "local",
    "alpine:3.20",
    "512m",
    "1.5g",
    "99999999999t",
    "if-missing",
    "'${{ matrix.os }}'",
    "\"${{ secrets.T }}\"",
    "${{ (",
    "${{ needs.build.outputs.v }}",
    "[a, b]",
    "{os: linux}",
    "\"0 4 * * *\"",
    "\"[x\"",
    "../up",
    "&a x",
    "*a",
    "|",
    ">-",
    "''",
    "\"\\u00e9\"",
];

#[derive(Clone, Debug)]
enum Shape {
    Scalar(usize),
    List(Vec<Shape>),
    Map(Vec<(usize, Shape)>),
}

fn shape() -> impl Strategy<Value = Shape> {
    let leaf = (0..SCALARS.len()).prop_map(Shape::Scalar);
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Shape::List),
            prop::collection::vec((0..KEYS.len(), inner), 0..6).prop_map(Shape::Map),
        ]
    })
}

fn write(shape: &Shape, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match shape {
        Shape::Scalar(i) => {
            out.push(' ');
            out.push_str(SCALARS[*i]);
            out.push('\n');
        }
        Shape::List(items) if items.is_empty() => out.push_str(" []\n"),
        Shape::Map(entries) if entries.is_empty() => out.push_str(" {}\n"),
        Shape::List(items) => {
            out.push('\n');
            for item in items {
                out.push_str(&pad);
                out.push('-');
                write(item, indent + 2, out);
            }
        }
        Shape::Map(entries) => {
            out.push('\n');
            for (key, value) in entries {
                out.push_str(&pad);
                out.push_str(KEYS[*key]);
                out.push(':');
                write(value, indent + 2, out);
            }
        }
    }
}

fn check(source: &str) {
    if let Err(diagnostics) = slipway_spec::parse_pipeline(source, "prop.yml") {
        assert!(!diagnostics.is_empty());
        let rendered = diagnostics.render(source, false);
        assert!(rendered.starts_with("error"));
        let _ = diagnostics.render(source, true);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(source in any::<String>()) {
        check(&source);
    }

    #[test]
    fn yaml_like_text_never_panics(source in "[ a-z:\\-\\[\\]{}\n,'\"&*!|>#$]{0,300}") {
        check(&source);
    }

    #[test]
    fn pipeline_shaped_input_never_panics(jobs in shape(), top in shape()) {
        let mut source = String::from("jobs:");
        write(&jobs, 2, &mut source);
        source.push_str("env:");
        write(&top, 2, &mut source);
        check(&source);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Err(d) = slipway_spec::parse_bytes(&bytes, "prop.bin") {
            prop_assert!(!d.is_empty());
        }
    }

    #[test]
    fn arbitrary_expressions_in_every_field_never_panic(expr in "[a-z.()'=!&|<>\\[\\]*, 0-9${}]{0,60}") {
        let quoted = format!("'{}'", expr.replace('\'', "''"));
        let source = format!(
            "env:\n  A: {q}\njobs:\n  a:\n    name: {q}\n    if: {q}\n    matrix:\n      os: [x]\n    outputs:\n      o: {q}\n    steps:\n      - run: {q}\n        if: {q}\n        env:\n          B: {q}\n",
            q = quoted
        );
        check(&source);
    }
}
