//! A YAML tree that keeps the position of every node, built from saphyr-parser events.
//!
//! Bounded by construction: the caller checks the input size; nesting deeper than
//! [`MAX_DEPTH`] and documents larger than [`MAX_NODES`] (aliases counted at their expanded
//! size, so an alias bomb stops early) are errors. Plain scalars resolve by the YAML 1.2 core
//! schema, so `on` stays the string "on".

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Tag};

use crate::diagnostic::Diagnostic;
use crate::model::Span;

/// Deepest nesting of sequences and maps accepted. A real pipeline needs fewer than ten.
pub const MAX_DEPTH: usize = 64;
/// Most nodes in a document, counting each alias as a copy of what it refers to.
pub const MAX_NODES: usize = 200_000;

/// A YAML value with the position where it starts and ends.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The value.
    pub kind: NodeKind,
    /// Start of the node (for a quoted scalar, the opening quote; for a block scalar, `|`/`>`).
    pub span: Span,
    /// End of the node (exclusive).
    pub end: Span,
    /// How a scalar was written; `Plain` for collections.
    pub style: ScalarStyle,
}

/// The value of a [`Node`].
#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// `null`, `~` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Any other scalar.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A map with its keys, in file order.
    Map(Vec<(Key, Node)>),
}

/// A map key: always a scalar, kept as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    /// The key text.
    pub name: String,
    /// Where the key starts.
    pub span: Span,
}

impl Node {
    /// Length of the node on its first line, in characters, for underlining.
    pub fn width(&self) -> usize {
        if self.end.line == self.span.line {
            self.end.col.saturating_sub(self.span.col) as usize
        } else {
            0
        }
    }

    /// A short description of the kind of value, for "expected X, found Y" messages.
    pub fn describe(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "nothing (null)",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a map",
        }
    }
}

fn to_span(marker: saphyr_parser::Marker) -> Span {
    Span {
        line: u32::try_from(marker.line()).unwrap_or(u32::MAX),
        col: u32::try_from(marker.col().saturating_add(1)).unwrap_or(u32::MAX),
    }
}

enum KeyState {
    Awaiting,
    Have(Key),
    /// The key was not a scalar (already reported); its value is dropped.
    Invalid,
}

enum Frame {
    Seq {
        items: Vec<Node>,
        start: Span,
        anchor: usize,
        size: usize,
    },
    Map {
        entries: Vec<(Key, Node)>,
        start: Span,
        anchor: usize,
        size: usize,
        key: KeyState,
        first_seen: HashMap<String, Span>,
    },
}

/// Parses `source` into one document tree. Returns the tree (if the YAML was well formed enough
/// to build one) and every error found; a structural error stops the parse.
pub fn parse(source: &str) -> (Option<Node>, Vec<Diagnostic>) {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(source);
    let mut documents = 0usize;
    while let Some(event) = parser.next_event() {
        let (event, span) = match event {
            Ok(pair) => pair,
            Err(err) => {
                let at = to_span(*err.marker());
                let diagnostic = if err.info().contains("recursion limit") {
                    // saphyr's own limit on flow nesting, met before ours.
                    Diagnostic::new(
                        at,
                        1,
                        format!("YAML nested more than {MAX_DEPTH} levels deep"),
                    )
                    .help("flatten the structure; a pipeline needs only a few levels")
                } else {
                    Diagnostic::new(at, 0, format!("invalid YAML: {}", err.info()))
                        .help("fix the YAML syntax at this position")
                };
                builder.errors.push(diagnostic);
                return (None, builder.errors);
            }
        };
        let start = to_span(span.start);
        let end = to_span(span.end);
        let outcome = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    builder.errors.push(
                        Diagnostic::new(
                            start,
                            3,
                            "a pipeline file holds exactly one YAML document",
                        )
                        .help("remove the `---` and everything after it, or merge the documents"),
                    );
                    return (builder.root, builder.errors);
                }
                Ok(())
            }
            Event::Scalar(value, style, anchor, tag) => {
                let kind = resolve_scalar(&value, style, tag.as_deref());
                let node = Node {
                    kind,
                    span: start,
                    end,
                    style,
                };
                builder.complete(node, 1, anchor, Some(&value))
            }
            Event::Alias(id) => builder.alias(id, start, end),
            Event::SequenceStart(anchor, _) => builder.open(Frame::Seq {
                items: Vec::new(),
                start,
                anchor,
                size: 1,
            }),
            Event::MappingStart(anchor, _) => builder.open(Frame::Map {
                entries: Vec::new(),
                start,
                anchor,
                size: 1,
                key: KeyState::Awaiting,
                first_seen: HashMap::new(),
            }),
            Event::SequenceEnd | Event::MappingEnd => builder.close(end),
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => Ok(()),
        };
        if let Err(diagnostic) = outcome {
            builder.errors.push(diagnostic);
            return (None, builder.errors);
        }
    }
    (builder.root, builder.errors)
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    anchors: HashMap<usize, (Node, usize)>,
    total_nodes: usize,
    errors: Vec<Diagnostic>,
}

impl Builder {
    fn charge(&mut self, nodes: usize, at: Span) -> Result<(), Diagnostic> {
        self.total_nodes = self.total_nodes.saturating_add(nodes);
        if self.total_nodes > MAX_NODES {
            return Err(Diagnostic::new(
                at,
                0,
                format!("the document expands to more than {MAX_NODES} YAML nodes"),
            )
            .help("a pipeline file this large is almost certainly an alias bomb or generated by mistake; remove the aliases (`*name`) that repeat large parts"));
        }
        Ok(())
    }

    fn open(&mut self, frame: Frame) -> Result<(), Diagnostic> {
        if self.stack.len() >= MAX_DEPTH {
            let at = match &frame {
                Frame::Seq { start, .. } | Frame::Map { start, .. } => *start,
            };
            return Err(Diagnostic::new(
                at,
                1,
                format!("YAML nested more than {MAX_DEPTH} levels deep"),
            )
            .help("flatten the structure; a pipeline needs only a few levels"));
        }
        self.stack.push(frame);
        Ok(())
    }

    fn close(&mut self, end: Span) -> Result<(), Diagnostic> {
        let Some(frame) = self.stack.pop() else {
            return Ok(());
        };
        let (node, size, anchor) = match frame {
            Frame::Seq {
                items,
                start,
                anchor,
                size,
            } => (node_of(NodeKind::Seq(items), start, end), size, anchor),
            Frame::Map {
                entries,
                start,
                anchor,
                size,
                ..
            } => (node_of(NodeKind::Map(entries), start, end), size, anchor),
        };
        // Collections were charged node by node as their children completed.
        self.attach(node, size, anchor, None)
    }

    fn alias(&mut self, id: usize, start: Span, end: Span) -> Result<(), Diagnostic> {
        let Some((target, size)) = self.anchors.get(&id) else {
            return Err(Diagnostic::new(start, 0, "alias to an unknown anchor")
                .help("define the anchor (`&name`) before using it (`*name`)"));
        };
        let (mut node, size) = (target.clone(), *size);
        self.charge(size, start)?;
        node.span = start;
        node.end = end;
        self.attach(node, size, 0, None)
    }

    fn complete(
        &mut self,
        node: Node,
        size: usize,
        anchor: usize,
        raw: Option<&str>,
    ) -> Result<(), Diagnostic> {
        self.charge(size, node.span)?;
        self.attach(node, size, anchor, raw)
    }

    /// Adds a finished node to its parent (or makes it the root) and records its anchor.
    fn attach(
        &mut self,
        node: Node,
        size: usize,
        anchor: usize,
        raw: Option<&str>,
    ) -> Result<(), Diagnostic> {
        if anchor != 0 {
            // The stored copy costs as much memory as the node itself.
            self.charge(size, node.span)?;
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
            }
            Some(Frame::Seq { items, size: s, .. }) => {
                *s = s.saturating_add(size);
                items.push(node);
            }
            Some(Frame::Map {
                entries,
                size: s,
                key,
                first_seen,
                ..
            }) => {
                *s = s.saturating_add(size);
                match std::mem::replace(key, KeyState::Awaiting) {
                    KeyState::Awaiting => {
                        let name = match (&node.kind, raw) {
                            (NodeKind::Str(text), _) => Some(text.clone()),
                            (NodeKind::Seq(_) | NodeKind::Map(_), _) => None,
                            (_, Some(raw)) => Some(raw.to_string()),
                            (_, None) => None,
                        };
                        let Some(name) = name else {
                            self.errors.push(
                                Diagnostic::new(node.span, 1, "a map key must be a plain string")
                                    .help(
                                        "write the key as a string; lists and maps cannot be keys",
                                    ),
                            );
                            *key = KeyState::Invalid;
                            return Ok(());
                        };
                        if let Some(first) = first_seen.get(&name) {
                            self.errors.push(
                                Diagnostic::new(
                                    node.span,
                                    name.chars().count(),
                                    format!("duplicate key `{name}`"),
                                )
                                .help("remove one of the two entries or merge them")
                                .note(format!("`{name}` is first defined at line {}", first.line)),
                            );
                            *key = KeyState::Invalid;
                            return Ok(());
                        }
                        first_seen.insert(name.clone(), node.span);
                        *key = KeyState::Have(Key {
                            name,
                            span: node.span,
                        });
                    }
                    KeyState::Have(k) => entries.push((k, node)),
                    KeyState::Invalid => {}
                }
            }
        }
        Ok(())
    }
}

fn node_of(kind: NodeKind, start: Span, end: Span) -> Node {
    Node {
        kind,
        span: start,
        end,
        style: ScalarStyle::Plain,
    }
}

/// Resolves a scalar by the YAML 1.2 core schema. Only plain scalars are typed; quoted and
/// block scalars are strings. A core tag (`!!str`, `!!int`, …) forces the type where it can.
fn resolve_scalar(value: &str, style: ScalarStyle, tag: Option<&Tag>) -> NodeKind {
    if let Some(tag) = tag.filter(|t| t.is_yaml_core_schema() || t.handle == "!!") {
        let typed = match tag.suffix.as_str() {
            "str" => Some(NodeKind::Str(value.to_string())),
            "null" => Some(NodeKind::Null),
            "bool" => resolve_plain(value).filter(|k| matches!(k, NodeKind::Bool(_))),
            "int" => resolve_plain(value).filter(|k| matches!(k, NodeKind::Int(_))),
            "float" => resolve_plain(value).and_then(|k| match k {
                NodeKind::Int(i) => Some(NodeKind::Float(i as f64)),
                NodeKind::Float(_) => Some(k),
                _ => None,
            }),
            _ => None,
        };
        if let Some(kind) = typed {
            return kind;
        }
    }
    if style != ScalarStyle::Plain {
        return NodeKind::Str(value.to_string());
    }
    resolve_plain(value).unwrap_or_else(|| NodeKind::Str(value.to_string()))
}

fn resolve_plain(value: &str) -> Option<NodeKind> {
    match value {
        "" | "~" | "null" | "Null" | "NULL" => return Some(NodeKind::Null),
        "true" | "True" | "TRUE" => return Some(NodeKind::Bool(true)),
        "false" | "False" | "FALSE" => return Some(NodeKind::Bool(false)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Some(NodeKind::Float(f64::INFINITY));
        }
        "-.inf" | "-.Inf" | "-.INF" => return Some(NodeKind::Float(f64::NEG_INFINITY)),
        ".nan" | ".NaN" | ".NAN" => return Some(NodeKind::Float(f64::NAN)),
        _ => {}
    }
    if let Some(hex) = value.strip_prefix("0x") {
        return parse_radix(hex, 16);
    }
    if let Some(octal) = value.strip_prefix("0o") {
        return parse_radix(octal, 8);
    }
    let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Some(match value.parse::<i64>() {
            Ok(i) => NodeKind::Int(i),
            // Too large for i64: still a number.
            Err(_) => NodeKind::Float(value.parse::<f64>().ok()?),
        });
    }
    if is_core_float(digits) {
        return value.parse::<f64>().ok().map(NodeKind::Float);
    }
    None
}

fn parse_radix(digits: &str, radix: u32) -> Option<NodeKind> {
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    Some(match i64::from_str_radix(digits, radix) {
        Ok(i) => NodeKind::Int(i),
        Err(_) => NodeKind::Str(format!("0{}{digits}", if radix == 16 { 'x' } else { 'o' })),
    })
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, sign already stripped.
fn is_core_float(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            int.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit())
                && !(int.is_empty() && frac.is_empty())
        }
        None => !mantissa.is_empty() && mantissa.bytes().all(|b| b.is_ascii_digit()),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(src: &str) -> Node {
        let (node, errors) = parse(src);
        assert!(errors.is_empty(), "{errors:?}");
        node.expect("a document")
    }

    #[test]
    fn core_schema_scalars() {
        let node = root("a: true\nb: ~\nc: 12\nd: 1.5\ne: on\nf: '12'\ng: 0x1F\nh: 1e3\ni: yes\n");
        let NodeKind::Map(entries) = node.kind else {
            panic!("expected a map")
        };
        let kinds: Vec<_> = entries.into_iter().map(|(_, n)| n.kind).collect();
        assert_eq!(
            kinds,
            vec![
                NodeKind::Bool(true),
                NodeKind::Null,
                NodeKind::Int(12),
                NodeKind::Float(1.5),
                NodeKind::Str("on".into()),
                NodeKind::Str("12".into()),
                NodeKind::Int(31),
                NodeKind::Float(1000.0),
                NodeKind::Str("yes".into()),
            ]
        );
    }

    #[test]
    fn keeps_positions() {
        let node = root("jobs:\n  build:\n    run: 'x'\n");
        let NodeKind::Map(entries) = node.kind else {
            panic!("expected a map")
        };
        let (key, value) = &entries[0];
        assert_eq!(
            (key.name.as_str(), key.span),
            ("jobs", Span { line: 1, col: 1 })
        );
        let NodeKind::Map(inner) = &value.kind else {
            panic!("expected a map")
        };
        assert_eq!(inner[0].0.span, Span { line: 2, col: 3 });
        let NodeKind::Map(step) = &inner[0].1.kind else {
            panic!("expected a map")
        };
        assert_eq!(step[0].1.span, Span { line: 3, col: 10 });
        assert_eq!(step[0].1.width(), 3);
    }

    #[test]
    fn duplicate_key_names_first_line() {
        let (_, errors) = parse("a: 1\nb: 2\na: 3\n");
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].line, errors[0].col), (3, 1));
        assert_eq!(
            errors[0].notes,
            vec!["`a` is first defined at line 1".to_string()]
        );
    }

    #[test]
    fn aliases_expand() {
        let node = root("a: &x [1, 2]\nb: *x\n");
        let NodeKind::Map(entries) = node.kind else {
            panic!("expected a map")
        };
        assert_eq!(entries[0].1.kind, entries[1].1.kind);
    }
}
