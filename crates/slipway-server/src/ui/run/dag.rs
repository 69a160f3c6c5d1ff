//! A run's job DAG drawn as SVG on the server.
//!
//! Layered layout: a job's column is the length of the longest chain of
//! `needs` before it (jobs needing nothing are in column 0), its row is its
//! place among the jobs of that column in plan order. Edges go from the right
//! side of a needed job to the left side of the job needing it. Everything is
//! one pass over jobs and edges (Kahn's topological order), so a run of a
//! thousand jobs draws in well under a millisecond.

use std::fmt::Write as _;

use crate::ui::layout::escape;

const BOX_W: u32 = 200;
const BOX_H: u32 = 40;
const GAP_X: u32 = 56;
const GAP_Y: u32 = 12;
const MARGIN: u32 = 8;
/// Characters of a job's key shown in its box; the whole key is its tooltip.
const LABEL_CHARS: usize = 24;

/// One job to draw.
pub struct Node<'a> {
    /// The job's key, e.g. `test (linux)`.
    pub key: &'a str,
    /// queued, running, succeeded, failed, cancelled, skipped, …
    pub status: &'a str,
    /// Where the box links to (the job's section on the page).
    pub href: &'a str,
    /// Indexes (into the same slice of nodes) of the jobs this one needs.
    pub needs: &'a [usize],
}

/// Column and row of each node, in the order given. Needs naming a node
/// that does not exist are ignored; nodes on a cycle (a plan never has one)
/// are put in column 0 rather than lost.
pub fn layout(needs: &[&[usize]]) -> Vec<(u32, u32)> {
    let n = needs.len();
    let mut waiting: Vec<u32> = vec![0; n];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (job, job_needs) in needs.iter().enumerate() {
        for &need in job_needs.iter() {
            if need < n && need != job {
                waiting[job] += 1;
                dependents[need].push(job);
            }
        }
    }
    let mut column: Vec<u32> = vec![0; n];
    let mut ready: Vec<usize> = (0..n).filter(|&j| waiting[j] == 0).collect();
    while let Some(job) = ready.pop() {
        for &dependent in &dependents[job] {
            column[dependent] = column[dependent].max(column[job] + 1);
            waiting[dependent] -= 1;
            if waiting[dependent] == 0 {
                ready.push(dependent);
            }
        }
    }
    let columns = column.iter().copied().max().map_or(0, |c| c as usize + 1);
    let mut used: Vec<u32> = vec![0; columns];
    column
        .into_iter()
        .map(|c| {
            let row = used[c as usize];
            used[c as usize] += 1;
            (c, row)
        })
        .collect()
}

/// The SVG of the DAG: a box per job with its key and status in words (the
/// colour repeats the status, it never carries it alone), arrows for needs.
pub fn svg(nodes: &[Node<'_>]) -> String {
    let needs: Vec<&[usize]> = nodes.iter().map(|n| n.needs).collect();
    let places = layout(&needs);
    let columns = places.iter().map(|p| p.0 + 1).max().unwrap_or(0);
    let rows = places.iter().map(|p| p.1 + 1).max().unwrap_or(0);
    let width = MARGIN * 2 + columns * BOX_W + columns.saturating_sub(1) * GAP_X;
    let height = MARGIN * 2 + rows * BOX_H + rows.saturating_sub(1) * GAP_Y;
    let origin = |(column, row): (u32, u32)| {
        (
            MARGIN + column * (BOX_W + GAP_X),
            MARGIN + row * (BOX_H + GAP_Y),
        )
    };
    let mut out = String::with_capacity(512 + nodes.len() * 400);
    let _ = write!(
        out,
        "<svg class=\"dag\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-labelledby=\"dag-title\">\
         <title id=\"dag-title\">Jobs of this run and what each needs</title><g class=\"edges\">"
    );
    for (job, node) in nodes.iter().enumerate() {
        let (x2, y2) = origin(places[job]);
        for &need in node.needs {
            let Some(&place) = places.get(need) else {
                continue;
            };
            if need == job {
                continue;
            }
            let (x1, y1) = origin(place);
            let (x1, y1, y2) = (x1 + BOX_W, y1 + BOX_H / 2, y2 + BOX_H / 2);
            let mid = (x1 + x2) / 2;
            let _ = write!(
                out,
                "<path d=\"M{x1} {y1}C{mid} {y1} {mid} {y2} {x2} {y2}\"/>"
            );
        }
    }
    out.push_str("</g>");
    for (job, node) in nodes.iter().enumerate() {
        let (x, y) = origin(places[job]);
        let status = escape(node.status);
        let key = escape(node.key);
        let label = if node.key.chars().count() > LABEL_CHARS {
            let cut: String = node.key.chars().take(LABEL_CHARS - 1).collect();
            escape(&cut) + "…"
        } else {
            key.clone()
        };
        let _ = write!(
            out,
            "<a href=\"{href}\"><g class=\"node s-{class}\"><title>{key}: {status}</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{BOX_W}\" height=\"{BOX_H}\" rx=\"5\"/>\
             <text x=\"{tx}\" y=\"{ty1}\">{label}</text>\
             <text class=\"st\" x=\"{tx}\" y=\"{ty2}\">{symbol} {status}</text></g></a>",
            href = escape(node.href),
            class = status_class(node.status),
            tx = x + 8,
            ty1 = y + 16,
            ty2 = y + 32,
            symbol = status_symbol(node.status),
        );
    }
    out.push_str("</svg>");
    out
}

/// The CSS class for a status: a fixed set, so no input reaches the markup.
pub fn status_class(status: &str) -> &'static str {
    match status {
        "succeeded" | "success" | "passed" | "approved" => "ok",
        "failed" | "failure" | "errored" | "rejected" | "timed_out" => "bad",
        "running" | "pending" => "run",
        "queued" | "waiting" | "blocked" => "wait",
        "cancelled" => "cancel",
        "skipped" => "skip",
        _ => "other",
    }
}

/// A symbol beside the status word, for readers who scan shapes.
pub fn status_symbol(status: &str) -> &'static str {
    match status_class(status) {
        "ok" => "✓",
        "bad" => "✗",
        "run" => "▶",
        "wait" => "…",
        "cancel" => "■",
        "skip" => "↷",
        _ => "•",
    }
}

#[cfg(test)]
mod tests {
    use super::{Node, layout, svg};

    #[test]
    fn a_chain_is_one_row_of_columns() {
        let needs: Vec<&[usize]> = vec![&[], &[0], &[1], &[2]];
        assert_eq!(layout(&needs), vec![(0, 0), (1, 0), (2, 0), (3, 0)]);
    }

    #[test]
    fn a_diamond_has_its_middle_in_one_column() {
        // 0 → {1, 2} → 3, and 3 also needs 0 directly: still column 2.
        let needs: Vec<&[usize]> = vec![&[], &[0], &[0], &[1, 2, 0]];
        assert_eq!(layout(&needs), vec![(0, 0), (1, 0), (1, 1), (2, 0)]);
    }

    #[test]
    fn needs_may_point_forward_in_plan_order() {
        let needs: Vec<&[usize]> = vec![&[1], &[]];
        assert_eq!(layout(&needs), vec![(1, 0), (0, 0)]);
    }

    #[test]
    fn broken_needs_do_not_panic() {
        // Out of range, self, and a cycle.
        let needs: Vec<&[usize]> = vec![&[7], &[1], &[3], &[2]];
        assert_eq!(layout(&needs), vec![(0, 0), (0, 1), (0, 2), (0, 3)]);
    }

    #[test]
    fn a_thousand_jobs_in_fan_out_and_fan_in() {
        // root → 998 parallel jobs → sink.
        let middle: Vec<usize> = (1..999).collect();
        let mut needs: Vec<&[usize]> = vec![&[]];
        needs.extend(std::iter::repeat_n(&[0usize][..], 998));
        needs.push(&middle);
        let places = layout(&needs);
        assert_eq!(places.len(), 1000);
        assert_eq!(places[0], (0, 0));
        assert_eq!(places[500], (1, 499));
        assert_eq!(places[999], (2, 0));
        let hrefs: Vec<String> = (0..1000).map(|i| format!("#job-{i}")).collect();
        let nodes: Vec<Node<'_>> = needs
            .iter()
            .enumerate()
            .map(|(i, needs)| Node {
                key: "job",
                status: "succeeded",
                href: &hrefs[i],
                needs,
            })
            .collect();
        let drawn = svg(&nodes);
        assert_eq!(drawn.matches("<rect").count(), 1000);
        assert_eq!(drawn.matches("<path").count(), 998 * 2);
    }

    #[test]
    fn labels_are_escaped_and_statuses_written() {
        let nodes = [
            Node {
                key: "<b>\"x\"</b>",
                status: "failed",
                href: "#job-1\"onclick=\"x",
                needs: &[],
            },
            Node {
                key: "a very long job key that goes on and on (linux, 1.80)",
                status: "<running>",
                href: "#job-2",
                needs: &[0],
            },
        ];
        let drawn = svg(&nodes);
        assert!(drawn.contains("&lt;b&gt;&quot;x&quot;&lt;/b&gt;"));
        assert!(!drawn.contains("<b>"));
        assert!(drawn.contains("href=\"#job-1&quot;onclick=&quot;x\""));
        assert!(drawn.contains("✗ failed"));
        assert!(drawn.contains("class=\"node s-bad\""));
        assert!(drawn.contains("class=\"node s-other\""));
        assert!(drawn.contains("&lt;running&gt;"));
        assert!(drawn.contains("a very long job key tha…"));
    }
}
