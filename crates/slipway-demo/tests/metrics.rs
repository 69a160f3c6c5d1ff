//! `/metrics` against the requests actually made, and the exposition's syntax line by line.

mod support;

use std::collections::BTreeMap;

use support::Demo;

/// One sample line: metric name, labels in order, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

impl Sample {
    fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses the text format 0.0.4 strictly: every line is a `# HELP`, a `# TYPE` or a sample of
/// a family whose TYPE came first; names and label names are valid; label values are quoted
/// with escapes; values are numbers. Panics with the offending line otherwise.
fn parse_exposition(text: &str) -> Vec<Sample> {
    assert!(text.ends_with('\n'), "exposition must end with a newline");
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or_else(|| panic!("{line}"));
            assert!(is_metric_name(name) && !help.is_empty(), "{line}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("{line}"));
            assert!(is_metric_name(name), "{line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "TYPE given twice: {line}"
            );
        } else {
            let sample = parse_sample(line);
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| {
                    let base = sample.name.strip_suffix(suffix)?;
                    (types.get(base).map(String::as_str) == Some("histogram")).then_some(base)
                })
                .unwrap_or(&sample.name);
            assert!(types.contains_key(family), "sample before its TYPE: {line}");
            samples.push(sample);
        }
    }
    samples
}

fn parse_sample(line: &str) -> Sample {
    let name_end = line
        .find(['{', ' '])
        .unwrap_or_else(|| panic!("no value: {line}"));
    let (name, mut rest) = line.split_at(name_end);
    assert!(is_metric_name(name), "{line}");
    let mut labels = Vec::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        rest = after_brace;
        loop {
            let (label, after) = rest
                .split_once("=\"")
                .unwrap_or_else(|| panic!("label syntax: {line}"));
            assert!(is_label_name(label), "label name {label:?}: {line}");
            // The value runs to the first quote not escaped by a backslash.
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, 'n')) => value.push('\n'),
                        _ => panic!("bad escape: {line}"),
                    },
                    Some((i, '"')) => break i,
                    Some((_, c)) => value.push(c),
                    None => panic!("unterminated label value: {line}"),
                }
            };
            labels.push((label.to_owned(), value));
            rest = &after[end + 1..];
            if let Some(next) = rest.strip_prefix(',') {
                rest = next;
            } else if let Some(next) = rest.strip_prefix('}') {
                rest = next;
                break;
            } else {
                panic!("expected , or }} after a label: {line}");
            }
        }
    }
    let value = rest
        .strip_prefix(' ')
        .unwrap_or_else(|| panic!("expected one space before the value: {line}"));
    assert!(!value.contains(' '), "timestamps are not expected: {line}");
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other
            .parse()
            .unwrap_or_else(|_| panic!("value {other:?}: {line}")),
    };
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn requests(samples: &[Sample], code: &str, path: &str) -> f64 {
    let matching: Vec<f64> = samples
        .iter()
        .filter(|s| {
            s.name == "demo_requests_total"
                && s.label("code") == Some(code)
                && s.label("path") == Some(path)
        })
        .map(|s| s.value)
        .collect();
    assert_eq!(matching.len(), 1, "one series for code {code} path {path}");
    matching[0]
}

fn total(samples: &[Sample], name: &str) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .map(|s| s.value)
        .sum()
}

#[test]
fn counters_and_histogram_match_the_requests_made() {
    let demo = Demo::start("v7", &["--error-every", "3"]);
    for _ in 0..6 {
        demo.get("/");
    }
    demo.get("/healthz");
    demo.get("/healthz");
    demo.get("/missing");
    demo.get("/version");
    let mut bad = demo.connect();
    bad.send(b"NONSENSE\r\n\r\n");
    assert_eq!(bad.read_response().status, 400);
    let made = 11.0;

    let samples = parse_exposition(&demo.metrics());
    assert_eq!(requests(&samples, "200", "/"), 4.0);
    assert_eq!(requests(&samples, "500", "/"), 2.0);
    assert_eq!(requests(&samples, "200", "/healthz"), 2.0);
    assert_eq!(requests(&samples, "503", "/healthz"), 0.0);
    assert_eq!(requests(&samples, "404", "other"), 1.0);
    assert_eq!(requests(&samples, "400", "other"), 1.0);
    assert_eq!(requests(&samples, "200", "/version"), 1.0);
    // The scrape being answered is counted once it is answered, not in its own output.
    assert_eq!(requests(&samples, "200", "/metrics"), 0.0);
    assert_eq!(total(&samples, "demo_requests_total"), made);
    assert_eq!(total(&samples, "demo_request_duration_seconds_count"), made);

    for sample in samples.iter().filter(|s| s.name != "demo_build_info") {
        assert_eq!(sample.label("version"), Some("v7"), "{sample:?}");
    }
    let build = samples
        .iter()
        .find(|s| s.name == "demo_build_info")
        .expect("demo_build_info");
    assert_eq!((build.label("version"), build.value), (Some("v7"), 1.0));
    // Only this scrape is in flight while it is rendered.
    let in_flight = samples
        .iter()
        .find(|s| s.name == "demo_requests_in_flight")
        .expect("demo_requests_in_flight");
    assert_eq!(in_flight.value, 1.0);

    // The first scrape shows up in the second.
    let samples = parse_exposition(&demo.metrics());
    assert_eq!(requests(&samples, "200", "/metrics"), 1.0);
    assert_eq!(
        total(&samples, "demo_request_duration_seconds_count"),
        made + 1.0
    );
}

#[test]
fn histogram_buckets_are_standard_cumulative_and_end_at_the_count() {
    let demo = Demo::start("v1", &["--latency-ms", "30"]);
    for _ in 0..3 {
        demo.get("/");
    }
    let samples = parse_exposition(&demo.metrics());
    let root = |name: &str| -> Vec<&Sample> {
        samples
            .iter()
            .filter(|s| s.name == name && s.label("path") == Some("/"))
            .collect()
    };
    let buckets = root("demo_request_duration_seconds_bucket");
    let bounds: Vec<&str> = buckets.iter().filter_map(|s| s.label("le")).collect();
    assert_eq!(
        bounds,
        [
            "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"
        ]
    );
    let counts: Vec<f64> = buckets.iter().map(|s| s.value).collect();
    assert!(
        counts.windows(2).all(|w| w[0] <= w[1]),
        "cumulative: {counts:?}"
    );
    // Every request slept 30 ms, so none is in the buckets up to 25 ms.
    assert_eq!(counts[..3], [0.0, 0.0, 0.0]);
    let count = root("demo_request_duration_seconds_count");
    assert_eq!(count.len(), 1);
    assert_eq!(count[0].value, 3.0);
    assert_eq!(counts.last().copied(), Some(3.0));
    let sum = root("demo_request_duration_seconds_sum");
    assert!(
        sum[0].value >= 0.09,
        "three sleeps of 30 ms: {}",
        sum[0].value
    );
}

#[test]
fn metrics_has_the_prometheus_content_type() {
    let demo = Demo::start("v1", &[]);
    let response = demo.get("/metrics");
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
}

#[test]
fn the_exposition_parser_rejects_what_prometheus_would() {
    for bad in [
        "demo_x 1\n",                                  // no TYPE
        "# TYPE demo_x counter\ndemo_x{a=\"1\" 1\n",   // unclosed labels
        "# TYPE demo_x counter\ndemo_x{1a=\"1\"} 1\n", // bad label name
        "# TYPE demo_x counter\ndemo_x one\n",         // bad value
        "# TYPE demo_x counter\ndemo_x 1",             // no final newline
    ] {
        assert!(
            std::panic::catch_unwind(|| parse_exposition(bad)).is_err(),
            "accepted {bad:?}"
        );
    }
}
