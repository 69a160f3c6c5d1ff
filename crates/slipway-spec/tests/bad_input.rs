//! Hostile input: each case gives a clear error (checked by its message), never a panic, and
//! stays within bounded memory because every limit is hit before the input is expanded.

use slipway_spec::{Diagnostics, MAX_FILE_BYTES, parse_bytes, parse_pipeline};

fn errors(result: Result<slipway_spec::Pipeline, Diagnostics>) -> Diagnostics {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(d) => d,
    }
}

fn assert_message(d: &Diagnostics, needle: &str) {
    assert!(
        d.0.iter().any(|d| d.message.contains(needle)),
        "no diagnostic contains {needle:?}: {d:#?}"
    );
}

#[test]
fn alias_bomb_is_refused() {
    let mut source = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for pair in names.windows(2) {
        let refs = vec![format!("*{}", pair[0]); 9].join(",");
        source.push_str(&format!("{}: &{} [{refs}]\n", pair[1], pair[1]));
    }
    let d = errors(parse_pipeline(&source, "bomb.yml"));
    assert_message(&d, "expands to more than");
    assert!(d.0[0].help.as_deref().unwrap_or_default().contains("alias"));
}

#[test]
fn oversized_file_is_refused_before_parsing() {
    // 100 MB of something that would be slow to parse if it were parsed.
    let big = vec![b'['; 100 * 1024 * 1024];
    let d = errors(parse_bytes(&big, "big.yml"));
    assert_eq!(d.len(), 1);
    assert_message(&d, &format!("at most {MAX_FILE_BYTES} bytes"));
}

#[test]
fn invalid_utf8_is_reported_with_its_position() {
    let d = errors(parse_bytes(b"jobs:\n  a\xff\xfe: 1\n", "bin.yml"));
    assert_message(&d, "not valid UTF-8");
    assert_eq!((d.0[0].line, d.0[0].col), (2, 4));
}

#[test]
fn binary_garbage_is_reported() {
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let d = errors(parse_bytes(&garbage, "garbage.bin"));
    assert!(
        d.0[0].message.contains("UTF-8") || d.0[0].message.contains("binary"),
        "{d:#?}"
    );
    let d = errors(parse_pipeline("jobs:\0\0\0", "nul.yml"));
    assert_message(&d, "binary data");
}

#[test]
fn deep_flow_nesting_is_refused() {
    let depth = 100_000;
    let source = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let d = errors(parse_pipeline(&source, "deep.yml"));
    assert_message(&d, "nested more than");
}

#[test]
fn deep_block_nesting_is_refused() {
    let mut source = String::new();
    for level in 0..500 {
        source.push_str(&" ".repeat(level));
        source.push_str("a:\n");
    }
    let d = errors(parse_pipeline(&source, "deep.yml"));
    assert_message(&d, "nested more than");
}

#[test]
fn deeply_nested_expression_is_an_error() {
    let depth = 10_000;
    let expression = format!("{}1{}", "(".repeat(depth), ")".repeat(depth));
    let source = format!("jobs:\n  a:\n    steps:\n      - run: echo ${{{{ {expression} }}}}\n");
    let d = errors(parse_pipeline(&source, "expr.yml"));
    assert_message(&d, "invalid expression");
    assert_eq!(d.0[0].line, 4);
}

#[test]
fn many_documents_and_odd_yaml_do_not_panic() {
    for source in [
        "---\njobs: {}\n---\njobs: {}\n",
        "? [complex, key]\n: value\n",
        "*unknown",
        "&a [*a]",
        "jobs: !!binary aGVsbG8=",
        "jobs:\n  a:\n    steps:\n      - run: !!int 12\n",
        "\u{feff}jobs:\n\ta: 1\n",
        "jobs: &x\n  a:\n    steps: [{run: x}]\n  b: *x\n",
        "",
        "   \n\n",
        "~",
    ] {
        let _ = parse_pipeline(source, "odd.yml");
    }
}

#[test]
fn renderer_survives_positions_outside_the_source() {
    let d = errors(parse_pipeline("jobs: [", "x.yml"));
    let rendered = d.render("", true);
    assert!(rendered.contains("error"));
    let rendered = d.render("jobs: [", false);
    assert!(rendered.contains("x.yml:"));
}
