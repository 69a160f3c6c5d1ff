//! Property tests of the deployment formats: `parse_environment` and `deploy:` jobs never
//! panic, on arbitrary text and on YAML-shaped input built from the formats' own keys, and
//! their diagnostics always render.

use proptest::prelude::*;

const KEYS: &[&str] = &[
    "targets",
    "service",
    "load_balancer",
    "parallelism",
    "name",
    "kind",
    "port",
    "lb_server",
    "group",
    "host",
    "ssh_port",
    "user",
    "key",
    "known_hosts",
    "known_hosts_file",
    "dir",
    "docker_host",
    "container_port",
    "install",
    "activate",
    "deactivate",
    "uninstall",
    "health",
    "env",
    "http",
    "command",
    "interval",
    "timeout",
    "successes",
    "max_wait",
    "haproxy",
    "socket",
    "address",
    "backend",
    "drain_timeout",
    "copy",
    "start",
    "stop",
    "remove",
    "environment",
    "artifact",
    "image",
    "strategy",
    "rolling",
    "blue_green",
    "batch",
    "max_unavailable",
    "max_fail_percentage",
    "keep_old",
    "needs",
    "steps",
    "run",
    "artifacts",
    "A",
    "targts",
];

const SCALARS: &[&str] = &[
    "local",
    "ssh",
    "docker",
    "vm",
    "blue",
    "green",
    "stop",
    "remove",
    "0",
    "1",
    "65535",
    "70000",
    "-1",
    "200ms",
    "5m",
    "1s500ms",
    "99999999999999999999ms",
    "\"25%\"",
    "\"0%\"",
    "/healthz",
    "healthz",
    "127.0.0.1:9999",
    "127.0.0.1",
    "build.app",
    "build.",
    ".app",
    "app:1",
    "My App",
    "~",
    "true",
    "1.5",
    "''",
    "\"${{ x }}\"",
    "[1, 2]",
    "{copy: x}",
    "{start: }",
    "../up",
    "&a x",
    "*a",
    "|",
    "accept-new",
];

#[derive(Clone, Debug)]
enum Shape {
    Scalar(usize),
    List(Vec<Shape>),
    Map(Vec<(usize, Shape)>),
}

fn shape() -> impl Strategy<Value = Shape> {
    let leaf = (0..SCALARS.len()).prop_map(Shape::Scalar);
    leaf.prop_recursive(5, 64, 6, |inner| {
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

fn check_environment(source: &str) {
    if let Err(diagnostics) = slipway_spec::parse_environment(source, "prop.yml", "prop") {
        assert!(!diagnostics.is_empty());
        assert!(diagnostics.render(source, false).starts_with("error"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(source in any::<String>(), name in any::<String>()) {
        check_environment(&source);
        let _ = slipway_spec::parse_environment("targets: [{name: a, kind: local, port: 1}]", "x.yml", &name);
    }

    #[test]
    fn environment_shaped_input_never_panics(targets in shape(), service in shape(), lb in shape()) {
        let mut source = String::from("targets:");
        write(&targets, 2, &mut source);
        source.push_str("service:");
        write(&service, 2, &mut source);
        source.push_str("load_balancer:");
        write(&lb, 2, &mut source);
        check_environment(&source);
    }

    #[test]
    fn deploy_jobs_never_panic(deploy in shape(), other in shape()) {
        let mut source = String::from("jobs:\n  build:\n    artifacts: {app: a}\n    steps: [{run: make}]\n  ship:\n    needs: [build]\n    deploy:");
        write(&deploy, 6, &mut source);
        source.push_str("  other:");
        write(&other, 4, &mut source);
        if let Err(diagnostics) = slipway_spec::parse_pipeline(&source, "prop.yml") {
            prop_assert!(!diagnostics.is_empty());
            prop_assert!(diagnostics.render(&source, false).starts_with("error"));
        }
    }
}
