//! The event loop that turns JUnit XML into a [`Report`].

use quick_xml::Reader;
use quick_xml::XmlVersion;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesRef, BytesStart, Event};

use crate::case::{CaseBuilder, ResultKind, ResultPart};
use crate::error::ReportError;
use crate::model::{DeclaredCounts, Report, Suite};
use crate::text::{CappedText, cap, decode, line_column, parse_count, parse_seconds};

/// Largest input accepted, in bytes.
pub const MAX_INPUT_BYTES: usize = 256 * 1024 * 1024;
/// Deepest element nesting accepted.
pub const MAX_DEPTH: usize = 256;

/// Cap on names, class names, file paths and other attributes kept.
const ATTRIBUTE_LIMIT: usize = 4 * 1024;
/// Cap on a failure message (an attribute, but pytest puts whole tracebacks there).
pub(crate) const MESSAGE_LIMIT: usize = 16 * 1024;
/// Cap on failure text or stack trace.
pub(crate) const DETAILS_LIMIT: usize = 64 * 1024;
/// Cap on captured standard output or error.
const OUTPUT_LIMIT: usize = 64 * 1024;

/// Parses one JUnit XML file.
///
/// Never panics; any input that is not a JUnit report gives a [`ReportError`] saying why.
pub fn parse_junit(xml: &[u8]) -> Result<Report, ReportError> {
    if xml.len() > MAX_INPUT_BYTES {
        return Err(ReportError::TooLarge {
            size: xml.len(),
            limit: MAX_INPUT_BYTES,
        });
    }
    if xml.iter().all(u8::is_ascii_whitespace) {
        return Err(ReportError::Empty);
    }
    let text = decode(xml);
    Parser::new(&text).run()
}

/// An open element and what its text is for.
enum Frame {
    Suite {
        index: usize,
    },
    Case,
    Result(ResultPart),
    StackTrace(CappedText),
    Output {
        stderr: bool,
        text: CappedText,
    },
    /// `<testsuites>`, `<properties>` and anything unknown: children are still visited.
    Other,
}

struct Parser<'a> {
    text: &'a str,
    reader: Reader<&'a [u8]>,
    report: Report,
    stack: Vec<Frame>,
    /// Indices into `report.suites` of the open suites, innermost last.
    open_suites: Vec<usize>,
    case: Option<CaseBuilder>,
    seen_root: bool,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        let mut reader = Reader::from_str(text);
        // Runners do write bare '&' into text; keep it as text rather than reject the file.
        reader.config_mut().allow_dangling_amp = true;
        Self {
            text,
            reader,
            report: Report::default(),
            stack: Vec::new(),
            open_suites: Vec::new(),
            case: None,
            seen_root: false,
        }
    }

    fn run(mut self) -> Result<Report, ReportError> {
        loop {
            let event = match self.reader.read_event() {
                Ok(event) => event,
                Err(error) => return Err(self.xml_error(error.to_string())),
            };
            match event {
                Event::Start(start) => self.open(&start)?,
                Event::Empty(start) => {
                    self.open(&start)?;
                    self.close();
                    if self.stack.is_empty() {
                        break;
                    }
                }
                Event::End(_) => {
                    self.close();
                    if self.stack.is_empty() {
                        // Whatever follows the root element is not part of the report.
                        break;
                    }
                }
                Event::Text(text) => self.push_text(&text.xml10_content()),
                Event::CData(data) => self.push_text(&data.xml10_content()),
                Event::GeneralRef(reference) => self.push_reference(&reference),
                Event::Eof => break,
                // Declarations, comments, processing instructions, and DOCTYPE: nothing in a
                // DOCTYPE is ever expanded, so external entities cannot be reached.
                Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
        if !self.seen_root {
            return Err(ReportError::NoRootElement);
        }
        if let Some(frame) = self.stack.last() {
            return Err(ReportError::Truncated {
                element: frame_name(frame).to_owned(),
            });
        }
        Ok(self.report)
    }

    fn open(&mut self, start: &BytesStart<'_>) -> Result<(), ReportError> {
        let local = start.local_name();
        let name = local.as_ref();
        if !self.seen_root {
            self.seen_root = true;
            if name != "testsuites" && name != "testsuite" {
                return Err(ReportError::NotJunit {
                    root: cap(name, 200),
                    line: self.line(),
                });
            }
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(ReportError::TooDeep {
                limit: MAX_DEPTH,
                line: self.line(),
            });
        }
        let parent = self.stack.last();
        let in_case = matches!(parent, Some(Frame::Case));
        let in_result = matches!(parent, Some(Frame::Result(_)));
        let in_suite = matches!(parent, Some(Frame::Suite { .. }));
        let in_suite_scope = matches!(
            parent,
            None | Some(Frame::Suite { .. }) | Some(Frame::Other)
        ) && self.case.is_none();
        let frame = match name {
            "testsuite" if in_suite_scope => self.open_suite(start)?,
            "testcase" if in_suite_scope => self.open_case(start)?,
            "system-out" | "system-err" if in_case || in_suite => Frame::Output {
                stderr: name == "system-err",
                text: CappedText::new(OUTPUT_LIMIT),
            },
            "stackTrace" if in_result => Frame::StackTrace(CappedText::new(DETAILS_LIMIT)),
            _ => match ResultKind::from_element(name) {
                Some(kind) if in_case => self.open_result(kind, start)?,
                _ => Frame::Other,
            },
        };
        self.stack.push(frame);
        Ok(())
    }

    fn open_suite(&mut self, start: &BytesStart<'_>) -> Result<Frame, ReportError> {
        let mut suite = Suite {
            depth: u32::try_from(self.open_suites.len()).unwrap_or(u32::MAX),
            ..Suite::default()
        };
        let mut declared = DeclaredCounts::default();
        for attr in start.attributes() {
            let attr = attr.map_err(|e| self.xml_error(e.to_string()))?;
            let value = || attribute_value(&attr);
            match attr.key.local_name().as_ref() {
                "name" => suite.name = cap(&value(), ATTRIBUTE_LIMIT),
                "time" => suite.time_seconds = parse_seconds(&value()),
                "timestamp" => suite.timestamp = Some(cap(&value(), ATTRIBUTE_LIMIT)),
                "tests" => declared.tests = parse_count(&value()),
                "failures" => declared.failures = parse_count(&value()),
                "errors" => declared.errors = parse_count(&value()),
                "skipped" | "skips" => declared.skipped = parse_count(&value()),
                "disabled" => declared.disabled = parse_count(&value()),
                _ => {}
            }
        }
        suite.declared = declared;
        let index = self.report.suites.len();
        self.report.suites.push(suite);
        self.open_suites.push(index);
        Ok(Frame::Suite { index })
    }

    fn open_case(&mut self, start: &BytesStart<'_>) -> Result<Frame, ReportError> {
        let suite = self
            .open_suites
            .last()
            .and_then(|&index| self.report.suites.get(index))
            .map(|suite| suite.name.clone())
            .unwrap_or_default();
        let mut case = CaseBuilder::new(suite);
        for attr in start.attributes() {
            let attr = attr.map_err(|e| self.xml_error(e.to_string()))?;
            let value = || attribute_value(&attr);
            match attr.key.local_name().as_ref() {
                "name" => case.case.name = cap(&value(), ATTRIBUTE_LIMIT),
                "classname" => case.case.classname = cap(&value(), ATTRIBUTE_LIMIT),
                "file" => case.case.file = Some(cap(&value(), ATTRIBUTE_LIMIT)),
                "line" => case.case.line = value().trim().parse().ok(),
                "time" => case.case.time_seconds = parse_seconds(&value()),
                "status" | "result" => case.note_status(&value()),
                _ => {}
            }
        }
        self.case = Some(case);
        Ok(Frame::Case)
    }

    fn open_result(
        &mut self,
        kind: ResultKind,
        start: &BytesStart<'_>,
    ) -> Result<Frame, ReportError> {
        let mut part = ResultPart::new(kind);
        for attr in start.attributes() {
            let attr = attr.map_err(|e| self.xml_error(e.to_string()))?;
            if attr.key.local_name().as_ref() == "message" {
                let message = attribute_value(&attr);
                if !message.trim().is_empty() {
                    part.message = Some(cap(&message, MESSAGE_LIMIT));
                }
            }
        }
        Ok(Frame::Result(part))
    }

    fn close(&mut self) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        match frame {
            Frame::Suite { .. } => {
                self.open_suites.pop();
            }
            Frame::Case => {
                if let Some(builder) = self.case.take() {
                    for &index in &self.open_suites {
                        if let Some(suite) = self.report.suites.get_mut(index) {
                            suite.case_count = suite.case_count.saturating_add(1);
                        }
                    }
                    self.report.cases.push(builder.finish());
                }
            }
            Frame::Result(part) => {
                if let Some(case) = self.case.as_mut() {
                    case.add_result(part);
                }
            }
            Frame::StackTrace(text) => {
                if let Some(Frame::Result(part)) = self.stack.last_mut() {
                    part.stack_trace = text.finish();
                }
            }
            Frame::Output { stderr, text } => self.close_output(stderr, text),
            Frame::Other => {}
        }
    }

    fn close_output(&mut self, stderr: bool, text: CappedText) {
        let output = text.finish();
        let slot = match self.stack.last() {
            Some(Frame::Case) => self.case.as_mut().map(|case| {
                if stderr {
                    &mut case.case.system_err
                } else {
                    &mut case.case.system_out
                }
            }),
            Some(Frame::Suite { index }) => self.report.suites.get_mut(*index).map(|suite| {
                if stderr {
                    &mut suite.system_err
                } else {
                    &mut suite.system_out
                }
            }),
            _ => None,
        };
        if let Some(slot) = slot {
            *slot = output;
        }
    }

    fn push_text(&mut self, piece: &str) {
        match self.stack.last_mut() {
            Some(Frame::Result(part)) => part.text.push(piece),
            Some(Frame::StackTrace(text)) | Some(Frame::Output { text, .. }) => text.push(piece),
            _ => {}
        }
    }

    /// `&amp;`, `&#10;` and the like. Any other entity is kept as written, never resolved.
    fn push_reference(&mut self, reference: &BytesRef<'_>) {
        let name: &str = reference;
        if let Ok(Some(ch)) = reference.resolve_char_ref() {
            let mut buf = [0; 4];
            self.push_text(ch.encode_utf8(&mut buf));
        } else if let Some(replacement) = resolve_predefined_entity(name) {
            self.push_text(replacement);
        } else {
            self.push_text("&");
            self.push_text(name);
            self.push_text(";");
        }
    }

    fn line(&self) -> u64 {
        line_column(self.text, self.reader.buffer_position()).0
    }

    fn xml_error(&self, message: String) -> ReportError {
        let offset = self.reader.error_position();
        let (line, column) = line_column(self.text, offset);
        ReportError::Xml {
            message,
            offset,
            line,
            column,
        }
    }
}

/// The unescaped attribute value; one holding an unknown entity is kept as written.
fn attribute_value(attr: &Attribute<'_>) -> String {
    match attr.normalized_value_with(XmlVersion::Implicit1_0, 1, |name| {
        resolve_predefined_entity(name)
    }) {
        Ok(value) => value.into_owned(),
        Err(_) => attr.value.clone().into_owned(),
    }
}

fn frame_name(frame: &Frame) -> &'static str {
    match frame {
        Frame::Suite { .. } => "testsuite",
        Frame::Case => "testcase",
        Frame::Result(part) => part.kind.element_name(),
        Frame::StackTrace(_) => "stackTrace",
        Frame::Output { stderr: false, .. } => "system-out",
        Frame::Output { stderr: true, .. } => "system-err",
        Frame::Other => "element",
    }
}
