//! A step's log in the browser, never whole: the server reads one page of
//! [`PAGE_LINES`] lines by line number (`slipway_logs::LogSource`: random
//! access into archived logs, a sparse index over live ones) and renders it;
//! `?at=N` shows the page holding line N (what `#LN` links use), `?at=last`
//! the last page, `?q=` searches the log on the server with
//! `slipway_logs::search` and links each hit to its line. Without
//! JavaScript the log reads page by page with next/previous links; with it,
//! `run.js` tails the last page live over the SSE route [`live`].
//!
//! `?format=json` answers the page as JSON, `?format=fragment` as the bare
//! `<ol>` of lines (what the script fetches).

use std::convert::Infallible;
use std::fmt::Write as _;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use slipway_logs::live::{Cursor, LiveStream};
use slipway_logs::{LogSource, OwnedRecord, Stream as LogStream};
use slipway_store::sql::{Action, Id, ServerStore};

use super::{ansi, error_page, run_for};
use crate::error::ApiError;
use crate::state::AppState;
use crate::ui::auth::Viewer;
use crate::ui::layout::{escape, page};

/// Lines per page.
pub const PAGE_LINES: u64 = 500;
/// Search hits listed at once.
const SEARCH_HITS: usize = 100;
/// The longest search text taken.
const MAX_NEEDLE: usize = 200;

/// `GET /runs/{id}/jobs/{job}/steps/{step}/log` query.
#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    /// First line of the page (from 1).
    pub from: Option<u64>,
    /// A line to show (`last` for the end): its page is chosen.
    pub at: Option<String>,
    /// Text to search for (case-sensitive).
    pub q: Option<String>,
    /// Search hits from this line on.
    pub after: Option<u64>,
    /// `json`, `fragment`, or a whole page when absent.
    pub format: Option<String>,
}

/// One page of a log, as `?format=json` answers it.
#[derive(Debug, Serialize)]
pub struct LogPage {
    /// The number of the page's first line (from 1).
    pub from: u64,
    /// Lines the log holds now.
    pub total: u64,
    pub lines: Vec<PageLine>,
    /// Whether the job may still write lines.
    pub live: bool,
    /// Lines containing `q`, when searched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hits: Option<Vec<u64>>,
}

/// One line of a page.
#[derive(Debug, Serialize)]
pub struct PageLine {
    pub n: u64,
    /// `o` stdout, `e` stderr.
    pub stream: char,
    /// The text as HTML (escaped, ANSI colours as spans).
    pub html: String,
}

/// The first line of the page to show.
pub fn page_start(query: &LogQuery, total: u64) -> u64 {
    let aligned = |line: u64| (line.max(1) - 1) / PAGE_LINES * PAGE_LINES + 1;
    match (query.at.as_deref(), query.from) {
        (Some("last"), _) => aligned(total),
        (Some(line), _) => match line.parse::<u64>() {
            Ok(line) => aligned(line.min(total.max(1))),
            Err(_) => 1,
        },
        (None, Some(from)) => from.clamp(1, total.max(1)),
        (None, None) => 1,
    }
}

/// What the blocking read found.
struct Read {
    from: u64,
    total: u64,
    records: Vec<OwnedRecord>,
    hits: Option<Vec<u64>>,
}

/// `GET /runs/{id}/jobs/{job}/steps/{step}/log`
pub async fn log_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((id, job_id, step)): Path<(Id, Id, u32)>,
    Query(query): Query<LogQuery>,
) -> Response {
    match render(&state, &viewer, id, job_id, step, query).await {
        Ok(response) => response,
        Err(error) => error_page(&viewer, error),
    }
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    id: Id,
    job_id: Id,
    step: u32,
    query: LogQuery,
) -> Result<Response, ApiError> {
    let (run, project) = run_for(state, viewer, id, Action::View).await?;
    let job = state
        .store
        .job(job_id)
        .await
        .ok()
        .filter(|j| j.run_id == run.id)
        .ok_or_else(|| ApiError::not_found(format!("run {id} has no job {job_id}")))?;
    let step_name = state
        .store
        .list_steps(job.id)
        .await?
        .into_iter()
        .find(|s| s.index == step)
        .map(|s| s.name);
    let needle: Option<String> = query
        .q
        .as_deref()
        .filter(|q| !q.is_empty())
        .map(|q| q.chars().take(MAX_NEEDLE).collect());
    let logs = state.logs.clone();
    let (run_id, search_from) = (run.id, query.after.unwrap_or(1).max(1));
    let wanted = LogQuery {
        from: query.from,
        at: query.at.clone(),
        ..LogQuery::default()
    };
    let search = needle.clone();
    let read = tokio::task::spawn_blocking(move || -> std::io::Result<Read> {
        let Some(mut source) = logs.open_step(run_id, job_id, step)? else {
            return Ok(Read {
                from: 1,
                total: 0,
                records: Vec::new(),
                hits: None,
            });
        };
        let total = source.line_count()?;
        let from = page_start(&wanted, total);
        let mut records = Vec::with_capacity(PAGE_LINES as usize);
        source.read_lines(from, PAGE_LINES as usize, &mut records)?;
        let hits = match search {
            Some(needle) => Some(slipway_logs::search(
                &mut source,
                needle.as_bytes(),
                search_from,
                SEARCH_HITS,
            )?),
            None => None,
        };
        Ok(Read {
            from,
            total,
            records,
            hits,
        })
    })
    .await
    .map_err(|_| ApiError::internal("the log reading task failed"))?
    .map_err(|e| ApiError::internal(format!("the log could not be read: {e}")))?;
    let live = !job.status.is_final();
    let base = format!("/runs/{}/jobs/{}/steps/{step}/log", run.id, job.id);
    match query.format.as_deref() {
        Some("json") => {
            let lines = read
                .records
                .iter()
                .map(|r| {
                    let mut html = String::with_capacity(r.text.len() + 16);
                    ansi::render(&r.text, &mut html);
                    PageLine {
                        n: r.line,
                        stream: if r.stream == LogStream::Stderr {
                            'e'
                        } else {
                            'o'
                        },
                        html,
                    }
                })
                .collect();
            Ok(Json(LogPage {
                from: read.from,
                total: read.total,
                lines,
                live,
                hits: read.hits,
            })
            .into_response())
        }
        Some("fragment") => {
            let mut out = String::with_capacity(read.records.len() * 96);
            lines_html(&mut out, &base, &read.records);
            Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], out).into_response())
        }
        _ => {
            let mut out = String::with_capacity(read.records.len() * 96 + 4096);
            let step_label = step_name.unwrap_or_else(|| format!("step {}", step + 1));
            let _ = write!(
                out,
                "<link rel=\"stylesheet\" href=\"/ui/run.css\">\
                 <nav aria-label=\"Breadcrumb\"><a href=\"/runs/{run_id}\">{project} #{number}</a> › \
                 <a href=\"/runs/{run_id}#job-{job_id}\">{job_key}</a> › {step_label}</nav>\
                 <h1>Log of {step_label}</h1><p>{total} lines · {status}</p>",
                run_id = run.id,
                project = escape(&project),
                number = run.number,
                job_id = job.id,
                job_key = escape(&job.key),
                step_label = escape(&step_label),
                total = read.total,
                status = escape(job.status.as_str()),
            );
            let _ = write!(
                out,
                "<form method=\"get\" action=\"{base}\" role=\"search\" class=\"log-search\">\
                 <label for=\"log-q\">Search this log</label>\
                 <input id=\"log-q\" name=\"q\" type=\"search\" value=\"{q}\">\
                 <button type=\"submit\">Search</button></form>",
                q = escape(needle.as_deref().unwrap_or("")),
            );
            if let (Some(hits), Some(needle)) = (&read.hits, &needle) {
                search_html(&mut out, &base, needle, hits);
            }
            nav_html(
                &mut out,
                &base,
                read.from,
                read.records.len() as u64,
                read.total,
            );
            let last_on_page = read
                .records
                .last()
                .map_or(read.from.saturating_sub(1), |r| r.line);
            let tail = live && last_on_page >= read.total;
            let _ = write!(
                out,
                "<div id=\"log\" data-live-url=\"/runs/{run}/jobs/{job}/steps/{step}/live\" \
                 data-next=\"{next}\" data-tail=\"{tail}\" data-base=\"{base}\">",
                run = run.id,
                job = job.id,
                next = last_on_page + 1,
            );
            lines_html(&mut out, &base, &read.records);
            out.push_str("</div>");
            if tail {
                out.push_str("<p id=\"log-live\" aria-live=\"polite\">Following new lines as they arrive…</p>");
            }
            nav_html(
                &mut out,
                &base,
                read.from,
                read.records.len() as u64,
                read.total,
            );
            out.push_str("<script src=\"/ui/run.js\" defer></script>");
            Ok(page(&format!("Log of {step_label}"), Some(viewer), out).into_response())
        }
    }
}

/// The lines as `<ol>` items, each with an anchor `L<n>` that links to
/// itself by page (`?at=n#Ln`).
pub fn lines_html(out: &mut String, base: &str, records: &[OwnedRecord]) {
    let start = records.first().map_or(1, |r| r.line);
    let _ = write!(out, "<ol class=\"log\" start=\"{start}\">");
    for record in records {
        let _ = write!(
            out,
            "<li id=\"L{n}\"{class}><a class=\"ln\" href=\"{base}?at={n}#L{n}\" aria-label=\"line {n}\">{n}</a><span class=\"lt\">",
            n = record.line,
            class = if record.stream == LogStream::Stderr {
                " class=\"err\""
            } else {
                ""
            },
        );
        ansi::render(&record.text, out);
        out.push_str("</span></li>");
    }
    out.push_str("</ol>");
}

fn nav_html(out: &mut String, base: &str, from: u64, shown: u64, total: u64) {
    out.push_str("<nav class=\"pager\" aria-label=\"Log pages\">");
    if from > 1 {
        let prev = from.saturating_sub(PAGE_LINES).max(1);
        let _ = write!(
            out,
            "<a href=\"{base}?from=1\">First line</a> <a href=\"{base}?from={prev}\" rel=\"prev\">Previous {PAGE_LINES}</a> "
        );
    }
    if shown == 0 {
        out.push_str("<span>no lines yet</span> ");
    } else {
        let _ = write!(
            out,
            "<span>lines {from}–{} of {total}</span> ",
            from + shown - 1
        );
    }
    if from + shown <= total {
        let _ = write!(
            out,
            "<a href=\"{base}?from={}\" rel=\"next\">Next {PAGE_LINES}</a> ",
            from + shown
        );
    }
    let _ = write!(
        out,
        "<a href=\"{base}?at=last#L{total}\">Last line</a></nav>"
    );
}

fn search_html(out: &mut String, base: &str, needle: &str, hits: &[u64]) {
    let q = query_escape(needle);
    let _ = write!(
        out,
        "<section class=\"hits\" aria-labelledby=\"hits-h\"><h2 id=\"hits-h\">{} for “{}”</h2>",
        match hits.len() {
            0 => "No lines".to_string(),
            1 => "1 line".to_string(),
            n if n >= SEARCH_HITS => format!("First {n} lines"),
            n => format!("{n} lines"),
        },
        escape(needle)
    );
    if !hits.is_empty() {
        out.push_str("<ul>");
        for line in hits {
            let _ = write!(
                out,
                "<li><a href=\"{base}?at={line}&amp;q={q}#L{line}\">line {line}</a></li>"
            );
        }
        out.push_str("</ul>");
        if hits.len() >= SEARCH_HITS
            && let Some(last) = hits.last()
        {
            let _ = write!(
                out,
                "<a href=\"{base}?q={q}&amp;after={}\">More matches</a>",
                last + 1
            );
        }
    }
    out.push_str("</section>");
}

/// Percent-encodes a query value (then safe in an attribute too).
fn query_escape(value: &str) -> String {
    super::percent(value)
}

/// `GET /runs/{id}/jobs/{job}/steps/{step}/live?from=N`: the step's lines
/// from line N on (default 1) as server-sent events, then new ones as the
/// agent sends them, until the step or job ends. Each event's data is
/// `{"n": line, "stream": "o"|"e", "html": …}` (the same rendering as the
/// pages) and its id the line number, so a reconnect resumes after it.
pub async fn live(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((id, job_id, step)): Path<(Id, Id, u32)>,
    Query(query): Query<LiveQuery>,
    headers: HeaderMap,
) -> Response {
    let found = async {
        let (run, _) = run_for(&state, &viewer, id, Action::View).await?;
        let job = state
            .store
            .job(job_id)
            .await
            .ok()
            .filter(|j| j.run_id == run.id)
            .ok_or_else(|| ApiError::not_found(format!("run {id} has no job {job_id}")))?;
        Ok::<_, ApiError>((run, job))
    };
    let (run, job) = match found.await {
        Ok(found) => found,
        Err(error) => return error_page(&viewer, error),
    };
    let resumed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|n| n + 1);
    let from = resumed.or(query.from).unwrap_or(1).max(1);
    let cursor = step_cursor(job.id, step, from);
    let follow = !job.status.is_final() && !run.status.is_final();
    let lines = state.logs.stream(run.id, Some(job.id), cursor, follow);
    Sse::new(StepLines {
        lines,
        step,
        ended: false,
    })
    .keep_alive(KeepAlive::default())
    .into_response()
}

/// `GET …/live` query.
#[derive(Debug, Deserialize)]
pub struct LiveQuery {
    /// The first line wanted (from 1).
    pub from: Option<u64>,
}

/// The live store's cursor that delivers step `step`'s lines from line
/// `from` (1-based; the store counts from 0) on.
pub fn step_cursor(job: Id, step: u32, from: u64) -> Cursor {
    let text = match (from, step) {
        (0 | 1, 0) => String::new(),
        (0 | 1, _) => format!("{job}:{}:{}", step - 1, u64::MAX),
        (n, _) => format!("{job}:{step}:{}", n - 2),
    };
    Cursor::parse(&text).unwrap_or_default()
}

/// One step's lines out of a job's stream, as server-sent events; ends at
/// the first line of a later step.
pub struct StepLines {
    lines: LiveStream,
    step: u32,
    ended: bool,
}

impl futures_core::Stream for StepLines {
    type Item = Result<Event, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.ended {
                return Poll::Ready(None);
            }
            match Pin::new(&mut self.lines).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(line))) => {
                    if line.step < self.step {
                        continue;
                    }
                    if line.step > self.step {
                        self.ended = true;
                        return Poll::Ready(Some(Ok(Event::default().event("end").data("{}"))));
                    }
                    let n = line.line + 1;
                    let mut html = String::with_capacity(line.text.len() + 16);
                    ansi::render(&line.text, &mut html);
                    let data = serde_json::json!({
                        "n": n,
                        "stream": if line.stream == LogStream::Stderr { "e" } else { "o" },
                        "html": html,
                    });
                    return Poll::Ready(Some(Ok(Event::default()
                        .id(n.to_string())
                        .data(data.to_string()))));
                }
                Poll::Ready(Some(Err(error))) => {
                    self.ended = true;
                    tracing::warn!(%error, "step log stream failed");
                    return Poll::Ready(Some(Ok(Event::default()
                        .event("error")
                        .data("the log could not be read"))));
                }
                Poll::Ready(None) => {
                    self.ended = true;
                    return Poll::Ready(Some(Ok(Event::default().event("end").data("{}"))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{LogQuery, PAGE_LINES, lines_html, page_start, step_cursor};
    use slipway_logs::{OwnedRecord, Stream};

    fn at(at: &str) -> LogQuery {
        LogQuery {
            at: Some(at.to_string()),
            ..LogQuery::default()
        }
    }

    #[test]
    fn pages_are_aligned_on_page_boundaries() {
        assert_eq!(page_start(&at("last"), 1_000_000), 999_501);
        assert_eq!(page_start(&at("last"), 0), 1);
        assert_eq!(page_start(&at("1234"), 1_000_000), 1001);
        assert_eq!(page_start(&at("500"), 1_000_000), 1);
        assert_eq!(page_start(&at("501"), 1_000_000), 501);
        // Past the end: the last page; nonsense: the first.
        assert_eq!(page_start(&at("99999999"), 1200), 1001);
        assert_eq!(page_start(&at("-3"), 1200), 1);
        assert_eq!(page_start(&at("0"), 1200), 1);
        let from = |n| LogQuery {
            from: Some(n),
            ..LogQuery::default()
        };
        assert_eq!(page_start(&from(0), 10), 1);
        assert_eq!(page_start(&from(7), 10), 7);
        assert_eq!(page_start(&from(u64::MAX), 10), 10);
        assert_eq!(PAGE_LINES, 500);
    }

    #[test]
    fn cursors_start_at_the_wanted_line() {
        assert_eq!(step_cursor(7, 0, 1).encode(), "");
        assert_eq!(step_cursor(7, 2, 1).encode(), format!("7:1:{}", u64::MAX));
        assert_eq!(step_cursor(7, 2, 10).encode(), "7:2:8");
        let cursor = step_cursor(7, 2, 10);
        assert!(cursor.is_delivered(7, 2, 8));
        assert!(!cursor.is_delivered(7, 2, 9));
    }

    #[test]
    fn lines_are_anchored_and_escaped() {
        let records = vec![
            OwnedRecord {
                line: 41,
                ts_ms: 0,
                stream: Stream::Stdout,
                text: b"\x1b[32mok\x1b[0m <tag>".to_vec(),
            },
            OwnedRecord {
                line: 42,
                ts_ms: 0,
                stream: Stream::Stderr,
                text: b"oops".to_vec(),
            },
        ];
        let mut out = String::new();
        lines_html(&mut out, "/runs/1/jobs/2/steps/0/log", &records);
        assert!(out.starts_with("<ol class=\"log\" start=\"41\">"));
        assert!(out.contains(
            "<li id=\"L41\"><a class=\"ln\" href=\"/runs/1/jobs/2/steps/0/log?at=41#L41\""
        ));
        assert!(out.contains("<span class=\"a-f2\">ok</span> &lt;tag&gt;"));
        assert!(out.contains("<li id=\"L42\" class=\"err\">"));
    }
}
