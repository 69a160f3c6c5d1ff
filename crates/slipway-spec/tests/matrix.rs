//! Matrix expansion, mirroring the examples of GitHub Actions' documentation
//! ("Using a matrix for your jobs").

use serde_json::{Value, json};
use slipway_spec::model::{Matrix, MatrixEntry, Span};
use slipway_spec::{ExpandError, MAX_COMBINATIONS};

fn entry(value: Value) -> MatrixEntry {
    match value {
        Value::Object(map) => map.into_iter().collect(),
        other => panic!("not an object: {other}"),
    }
}

fn matrix(axes: &[(&str, Value)], include: Vec<Value>, exclude: Vec<Value>) -> Matrix {
    Matrix {
        axes: axes
            .iter()
            .map(|(name, values)| {
                (
                    name.to_string(),
                    values.as_array().cloned().unwrap_or_default(),
                )
            })
            .collect(),
        include: include.into_iter().map(entry).collect(),
        exclude: exclude.into_iter().map(entry).collect(),
        span: Span { line: 1, col: 1 },
    }
}

/// Combinations as JSON objects, keys in the order the expansion produced them.
fn expanded(m: &Matrix) -> Vec<Vec<(String, Value)>> {
    m.expand()
}

fn row(pairs: &[(&str, Value)]) -> Vec<(String, Value)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[test]
fn cartesian_product_first_axis_outermost() {
    let m = matrix(
        &[
            ("version", json!([10, 12, 14])),
            ("os", json!(["ubuntu-latest", "windows-latest"])),
        ],
        vec![],
        vec![],
    );
    let got = expanded(&m);
    assert_eq!(got.len(), 6);
    assert_eq!(
        got[0],
        row(&[("version", json!(10)), ("os", json!("ubuntu-latest"))])
    );
    assert_eq!(
        got[1],
        row(&[("version", json!(10)), ("os", json!("windows-latest"))])
    );
    assert_eq!(
        got[5],
        row(&[("version", json!(14)), ("os", json!("windows-latest"))])
    );
}

#[test]
fn include_example_from_the_documentation() {
    let m = matrix(
        &[
            ("fruit", json!(["apple", "pear"])),
            ("animal", json!(["cat", "dog"])),
        ],
        vec![
            json!({"color": "green"}),
            json!({"color": "pink", "animal": "cat"}),
            json!({"fruit": "apple", "shape": "circle"}),
            json!({"fruit": "banana"}),
            json!({"fruit": "banana", "animal": "cat"}),
        ],
        vec![],
    );
    let got = expanded(&m);
    let expected = vec![
        row(&[
            ("fruit", json!("apple")),
            ("animal", json!("cat")),
            ("color", json!("pink")),
            ("shape", json!("circle")),
        ]),
        row(&[
            ("fruit", json!("apple")),
            ("animal", json!("dog")),
            ("color", json!("green")),
            ("shape", json!("circle")),
        ]),
        row(&[
            ("fruit", json!("pear")),
            ("animal", json!("cat")),
            ("color", json!("pink")),
        ]),
        row(&[
            ("fruit", json!("pear")),
            ("animal", json!("dog")),
            ("color", json!("green")),
        ]),
        row(&[("fruit", json!("banana"))]),
        row(&[("animal", json!("cat")), ("fruit", json!("banana"))]),
    ];
    // serde_json maps are sorted, so compare each combination as a set of pairs.
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        let mut g = g.clone();
        let mut e = e.clone();
        g.sort_by(|a, b| a.0.cmp(&b.0));
        e.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(g, e);
    }
}

#[test]
fn include_expands_a_matching_combination() {
    let m = matrix(
        &[
            ("os", json!(["windows-latest", "ubuntu-latest"])),
            ("node", json!([14, 16])),
        ],
        vec![json!({"os": "windows-latest", "node": 16, "npm": 6})],
        vec![],
    );
    let got = expanded(&m);
    assert_eq!(got.len(), 4);
    assert_eq!(
        got[1],
        row(&[
            ("os", json!("windows-latest")),
            ("node", json!(16)),
            ("npm", json!(6))
        ])
    );
    assert!(
        got.iter()
            .filter(|c| c.iter().any(|(k, _)| k == "npm"))
            .count()
            == 1
    );
}

#[test]
fn include_that_contradicts_every_combination_is_added() {
    let m = matrix(
        &[
            ("os", json!(["windows-latest", "ubuntu-latest"])),
            ("node", json!([14, 16])),
        ],
        vec![json!({"os": "windows-latest", "node": 17})],
        vec![],
    );
    let got = expanded(&m);
    assert_eq!(got.len(), 5);
    let mut last = got[4].clone();
    last.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        last,
        row(&[("node", json!(17)), ("os", json!("windows-latest"))])
    );
}

#[test]
fn include_only() {
    let m = matrix(
        &[],
        vec![
            json!({"site": "production", "datacenter": "site-a"}),
            json!({"site": "staging", "datacenter": "site-b"}),
        ],
        vec![],
    );
    assert_eq!(expanded(&m).len(), 2);
}

#[test]
fn exclude_removes_partial_matches() {
    let m = matrix(
        &[
            ("os", json!(["macos-latest", "windows-latest"])),
            ("version", json!([12, 14, 16])),
            ("environment", json!(["staging", "production"])),
        ],
        vec![],
        vec![
            json!({"os": "macos-latest", "version": 12, "environment": "production"}),
            json!({"os": "windows-latest", "version": 16}),
        ],
    );
    let got = expanded(&m);
    assert_eq!(got.len(), 9);
    assert!(!got.contains(&row(&[
        ("os", json!("windows-latest")),
        ("version", json!(16)),
        ("environment", json!("staging"))
    ])));
}

#[test]
fn include_applies_after_exclude() {
    let m = matrix(
        &[("os", json!(["a", "b"]))],
        vec![json!({"os": "b", "x": 1})],
        vec![json!({"os": "b"})],
    );
    let got = expanded(&m);
    assert_eq!(
        got,
        vec![
            row(&[("os", json!("a"))]),
            row(&[("os", json!("b")), ("x", json!(1))])
        ]
    );
}

#[test]
fn too_many_combinations_is_an_error() {
    let values: Vec<u32> = (0..17).collect();
    let m = matrix(
        &[
            ("a", json!(values)),
            ("b", json!((0..16).collect::<Vec<u32>>())),
        ],
        vec![],
        vec![],
    );
    assert_eq!(m.try_expand(), Err(ExpandError::TooManyCombinations(272)));
    assert_eq!(m.expand().len(), MAX_COMBINATIONS);
    let huge = matrix(
        &[
            ("a", json!(values)),
            ("b", json!(values)),
            ("c", json!(values)),
            ("d", json!(values)),
        ],
        vec![],
        vec![],
    );
    assert!(matches!(
        huge.try_expand(),
        Err(ExpandError::ProductTooLarge(Some(83521)))
    ));
    assert_eq!(huge.expand().len(), MAX_COMBINATIONS);
}

#[test]
fn matrix_from_a_file_expands() {
    let source = "jobs:\n  t:\n    matrix:\n      os: [linux, macos]\n      v: [1, 2]\n      exclude:\n        - {os: macos, v: 1}\n    steps:\n      - run: echo ${{ matrix.os }}\n";
    let pipeline = slipway_spec::parse_pipeline(source, "m.yml").expect("valid");
    let m = pipeline.jobs[0].matrix.as_ref().expect("a matrix");
    assert_eq!(m.expand().len(), 3);
}
