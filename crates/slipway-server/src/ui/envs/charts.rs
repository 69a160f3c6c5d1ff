//! Charts drawn as SVG on the server: sample series (a canary's samples
//! against its baseline's, a threshold metric's measurements over time) and
//! stacked bars (releases per day by outcome).
//!
//! Pure functions of their input, safe with anything: NaN and infinities are
//! left out of the drawing and counted in the text, empty input draws an
//! empty frame saying so, huge values scale without overflowing, and at most
//! [`MAX_POINTS`] points per series are drawn (evenly picked) so a chart's
//! size is bounded. Every chart has a `<title>` and a `<desc>` with the
//! numbers in words, a legend in text, and series told apart by dash pattern
//! and marker shape as well as colour.

use std::fmt::Write as _;

use crate::ui::layout::escape;

/// The most points of one series drawn; more are thinned evenly.
pub const MAX_POINTS: usize = 600;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 252.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 56.0;

/// How each series looks: colour, dash pattern, marker shape, and the
/// words for the latter two (the legend says them).
const STYLES: [(&str, &str, Marker, &str); 4] = [
    ("#1f5fa8", "", Marker::Circle, "solid line, circles"),
    ("#b3541e", "6 4", Marker::Square, "dashed line, squares"),
    ("#3d7d2a", "2 3", Marker::Triangle, "dotted line, triangles"),
    (
        "#6b3fa0",
        "10 3 2 3",
        Marker::Cross,
        "dash-dot line, crosses",
    ),
];

#[derive(Clone, Copy)]
enum Marker {
    Circle,
    Square,
    Triangle,
    Cross,
}

/// One series of a line chart: `(x, y)` points in the order drawn.
pub struct Series<'a> {
    pub label: &'a str,
    pub points: Vec<(f64, f64)>,
}

impl<'a> Series<'a> {
    /// Values at x = 0, 1, 2…
    pub fn of_values(label: &'a str, values: &[f64]) -> Series<'a> {
        Series {
            label,
            points: values
                .iter()
                .enumerate()
                .map(|(i, v)| (i as f64, *v))
                .collect(),
        }
    }
}

/// The samples of each series against their index (the order the provider
/// returned them: one per step of the window). `id` names the chart in the
/// page (only `[A-Za-z0-9_-]` are kept).
pub fn samples_chart(id: &str, title: &str, series: &[(&str, &[f64])]) -> String {
    let series: Vec<Series<'_>> = series
        .iter()
        .map(|(label, values)| Series::of_values(label, values))
        .collect();
    line_chart(id, title, "sample", &|x| short_number(x), &series)
}

/// A line chart of `series`; `x_tick` writes an x value for the axis.
pub fn line_chart(
    id: &str,
    title: &str,
    x_label: &str,
    x_tick: &dyn Fn(f64) -> String,
    series: &[Series<'_>],
) -> String {
    let id = clean_id(id);
    let drawn: Vec<Vec<(f64, f64)>> = series.iter().map(|s| finite_points(&s.points)).collect();
    let xs = Range::of(drawn.iter().flatten().map(|p| p.0));
    let ys = Range::of(drawn.iter().flatten().map(|p| p.1));
    let mut svg = String::with_capacity(2048 + drawn.iter().map(Vec::len).sum::<usize>() * 40);
    let desc = describe(series);
    let (legend, extra) = legend(series.iter().enumerate().map(|(i, s)| {
        let (colour, _, marker, words) = STYLES[i % STYLES.len()];
        (s.label, colour, LegendMark::Line(marker), words)
    }));
    open(&mut svg, &id, title, &desc, "chart", HEIGHT + extra);
    let (Some(xs), Some(ys)) = (xs, ys) else {
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">no numeric samples</text></svg>",
            WIDTH / 2.0,
            HEIGHT / 2.0
        );
        return svg;
    };
    axes(&mut svg, x_label, &xs, &ys, x_tick);
    for (index, points) in drawn.iter().enumerate() {
        let (colour, dash, marker, _) = STYLES[index % STYLES.len()];
        let mut path = String::with_capacity(points.len() * 16);
        for (i, (x, y)) in points.iter().enumerate() {
            let (px, py) = (xs.to_px(*x), ys.to_py(*y));
            let _ = write!(path, "{}{px:.1},{py:.1}", if i == 0 { "M" } else { " L" });
        }
        let _ = write!(
            svg,
            "<g class=\"series\" aria-hidden=\"true\"><path d=\"{path}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.6\""
        );
        if !dash.is_empty() {
            let _ = write!(svg, " stroke-dasharray=\"{dash}\"");
        }
        svg.push_str("/>");
        for (x, y) in points {
            draw_marker(&mut svg, marker, colour, xs.to_px(*x), ys.to_py(*y));
        }
        svg.push_str("</g>");
    }
    svg.push_str(&legend);
    svg.push_str("</svg>");
    svg
}

/// One bar of a stacked bar chart: its label (e.g. a day) and a count per
/// segment, in the order of the chart's `segments`.
pub struct Bar {
    pub label: String,
    pub counts: Vec<u64>,
}

/// Stacked bars: one per entry of `bars`, each segment's count drawn in the
/// fill of `segments` (a name each; fills are colours with a pattern, and
/// every bar's total is written above it).
pub fn bar_chart(id: &str, title: &str, segments: &[&str], bars: &[Bar]) -> String {
    let id = clean_id(id);
    let total = |bar: &Bar| bar.counts.iter().fold(0u64, |a, c| a.saturating_add(*c));
    let highest = bars.iter().map(total).max().unwrap_or(0);
    let mut desc = String::new();
    let nonzero: Vec<&Bar> = bars.iter().filter(|b| total(b) > 0).collect();
    if nonzero.is_empty() {
        desc.push_str("nothing in the period");
    }
    for bar in &nonzero {
        let _ = write!(desc, "{}: {}", bar.label, counts_in_words(segments, bar));
        desc.push_str("; ");
    }
    let mut svg = String::with_capacity(2048 + bars.len() * 200);
    let (legend, extra) = legend(segments.iter().enumerate().map(|(i, name)| {
        let words = SEGMENT_WORDS[i % SEGMENT_WORDS.len()];
        (
            *name,
            "",
            LegendMark::Fill(format!("url(#{id}-p{i})")),
            words,
        )
    }));
    open(
        &mut svg,
        &id,
        title,
        desc.trim_end_matches("; "),
        "chart bars",
        HEIGHT + extra,
    );
    svg.push_str("<defs>");
    for (i, _) in segments.iter().enumerate() {
        let (colour, pattern) = SEGMENT_FILLS[i % SEGMENT_FILLS.len()];
        let _ = write!(
            svg,
            "<pattern id=\"{id}-p{i}\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\"><rect width=\"6\" height=\"6\" fill=\"{colour}\"/>{pattern}</pattern>"
        );
    }
    svg.push_str("</defs>");
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let base = HEIGHT - BOTTOM;
    let _ = write!(
        svg,
        "<g class=\"axes\" aria-hidden=\"true\"><line x1=\"{LEFT}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#333\"/><line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{base}\" stroke=\"#333\"/>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{highest}</text><text x=\"{}\" y=\"{base}\" text-anchor=\"end\">0</text></g>",
        WIDTH - RIGHT,
        LEFT - 6.0,
        TOP + 4.0,
        LEFT - 6.0,
    );
    if !bars.is_empty() {
        let slot = plot_w / bars.len() as f64;
        let width = (slot * 0.75).max(1.0);
        let scale = if highest == 0 {
            0.0
        } else {
            plot_h / highest as f64
        };
        // Label at most about a dozen bars, evenly, always the first and last.
        let every = bars.len().div_ceil(12).max(1);
        for (i, bar) in bars.iter().enumerate() {
            let x = LEFT + slot * i as f64 + (slot - width) / 2.0;
            let _ = write!(
                svg,
                "<g class=\"bar\"><title>{}: {}</title>",
                escape(&bar.label),
                escape(&counts_in_words(segments, bar))
            );
            let mut top = base;
            for (s, count) in bar.counts.iter().enumerate().take(segments.len()) {
                if *count == 0 {
                    continue;
                }
                let h = *count as f64 * scale;
                top -= h;
                let _ = write!(
                    svg,
                    "<rect x=\"{x:.1}\" y=\"{top:.1}\" width=\"{width:.1}\" height=\"{h:.1}\" fill=\"url(#{id}-p{s})\" stroke=\"#333\" stroke-width=\"0.5\"/>"
                );
            }
            let sum = total(bar);
            if sum > 0 {
                let _ = write!(
                    svg,
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"value\">{sum}</text>",
                    x + width / 2.0,
                    top - 3.0
                );
            }
            if i % every == 0 || i + 1 == bars.len() {
                let _ = write!(
                    svg,
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"tick\">{}</text>",
                    x + width / 2.0,
                    base + 14.0,
                    escape(&bar.label)
                );
            }
            svg.push_str("</g>");
        }
    }
    svg.push_str(&legend);
    svg.push_str("</svg>");
    svg
}

/// Bar fills: a colour and a pattern drawn over it, so that segments differ
/// in print and for people who do not tell the colours apart.
const SEGMENT_FILLS: [(&str, &str); 4] = [
    ("#8fd19e", ""),
    (
        "#f19a9a",
        "<path d=\"M0,6 L6,0\" stroke=\"#7a1010\" stroke-width=\"1\"/>",
    ),
    (
        "#f3d27a",
        "<circle cx=\"3\" cy=\"3\" r=\"1.2\" fill=\"#5b4a00\"/>",
    ),
    (
        "#d0d0d0",
        "<path d=\"M0,3 L6,3\" stroke=\"#444\" stroke-width=\"1\"/>",
    ),
];
const SEGMENT_WORDS: [&str; 4] = ["plain", "hatched", "dotted", "striped"];

fn counts_in_words(segments: &[&str], bar: &Bar) -> String {
    let parts: Vec<String> = segments
        .iter()
        .zip(&bar.counts)
        .filter(|(_, n)| **n > 0)
        .map(|(name, n)| format!("{n} {name}"))
        .collect();
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    }
}

enum LegendMark {
    Line(Marker),
    Fill(String),
}

/// The legend under the plot, one entry per series or segment: its mark
/// and its name with the mark in words, in rows as wide as the chart; with
/// the height it adds beyond the first row.
fn legend<'a>(
    entries: impl Iterator<Item = (&'a str, &'a str, LegendMark, &'a str)>,
) -> (String, f64) {
    let mut svg = String::from("<g class=\"legend\">");
    let mut y = HEIGHT - 10.0;
    let mut x = LEFT;
    for (i, (label, colour, mark, words)) in entries.enumerate() {
        let text = format!("{} ({words})", clip(label, 40));
        // Roughly 6.5 px per character of 12 px text.
        let width = 40.0 + text.chars().count() as f64 * 6.5;
        if x > LEFT && x + width > WIDTH - RIGHT {
            x = LEFT;
            y += LEGEND_ROW;
        }
        let svg = &mut svg;
        match mark {
            LegendMark::Line(marker) => {
                let (_, dash, _, _) = STYLES[i % STYLES.len()];
                let _ = write!(
                    svg,
                    "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{colour}\" stroke-width=\"1.6\" stroke-dasharray=\"{dash}\"/>",
                    y - 4.0,
                    x + 22.0,
                    y - 4.0
                );
                draw_marker(svg, marker, colour, x + 11.0, y - 4.0);
            }
            LegendMark::Fill(fill) => {
                let _ = write!(
                    svg,
                    "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"22\" height=\"10\" fill=\"{fill}\" stroke=\"#333\" stroke-width=\"0.5\"/>",
                    y - 9.0
                );
            }
        }
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{y:.1}\">{}</text>",
            x + 26.0,
            escape(&text)
        );
        x += width;
    }
    svg.push_str("</g>");
    let extra = y - (HEIGHT - 10.0);
    (svg, extra)
}

/// The height of a row of the legend.
const LEGEND_ROW: f64 = 16.0;

fn draw_marker(svg: &mut String, marker: Marker, colour: &str, x: f64, y: f64) {
    let _ = match marker {
        Marker::Circle => write!(
            svg,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"2.6\" fill=\"{colour}\"/>"
        ),
        Marker::Square => write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"5\" height=\"5\" fill=\"{colour}\"/>",
            x - 2.5,
            y - 2.5
        ),
        Marker::Triangle => write!(
            svg,
            "<path d=\"M{x:.1},{:.1} L{:.1},{:.1} L{:.1},{:.1} Z\" fill=\"{colour}\"/>",
            y - 3.2,
            x + 3.0,
            y + 2.4,
            x - 3.0,
            y + 2.4
        ),
        Marker::Cross => write!(
            svg,
            "<path d=\"M{:.1},{:.1} L{:.1},{:.1} M{:.1},{:.1} L{:.1},{:.1}\" stroke=\"{colour}\" stroke-width=\"1.4\"/>",
            x - 3.0,
            y - 3.0,
            x + 3.0,
            y + 3.0,
            x - 3.0,
            y + 3.0,
            x + 3.0,
            y - 3.0
        ),
    };
}

/// The `<svg>` element with its title and description.
fn open(svg: &mut String, id: &str, title: &str, desc: &str, class: &str, height: f64) {
    let _ = write!(
        svg,
        "<svg class=\"{class}\" role=\"img\" viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\" aria-labelledby=\"{id}-t {id}-d\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title id=\"{id}-t\">{}</title><desc id=\"{id}-d\">{}</desc>",
        escape(title),
        escape(desc)
    );
}

/// The axes with the ranges' ends and middles written at the ticks.
fn axes(svg: &mut String, x_label: &str, xs: &Range, ys: &Range, x_tick: &dyn Fn(f64) -> String) {
    let base = HEIGHT - BOTTOM;
    let right = WIDTH - RIGHT;
    let _ = write!(
        svg,
        "<g class=\"axes\"><line x1=\"{LEFT}\" y1=\"{base}\" x2=\"{right}\" y2=\"{base}\" stroke=\"#333\"/><line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{base}\" stroke=\"#333\"/>"
    );
    for fraction in [0.0, 0.5, 1.0] {
        let y = (ys.low_half + (ys.high_half - ys.low_half) * fraction) * 2.0;
        let py = ys.to_py(y);
        let _ = write!(
            svg,
            "<line x1=\"{:.1}\" y1=\"{py:.1}\" x2=\"{right}\" y2=\"{py:.1}\" stroke=\"#ddd\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" class=\"tick\">{}</text>",
            LEFT,
            LEFT - 6.0,
            py + 4.0,
            escape(&short_number(y))
        );
        let x = (xs.low_half + (xs.high_half - xs.low_half) * fraction) * 2.0;
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"tick\">{}</text>",
            xs.to_px(x),
            base + 14.0,
            escape(&x_tick(x))
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" class=\"axis-label\">{}</text></g>",
        right,
        base + 28.0,
        escape(x_label)
    );
}

/// A value range kept as halves, so that the span of values near
/// `±f64::MAX` stays finite.
struct Range {
    low_half: f64,
    high_half: f64,
}

impl Range {
    /// The range of finite `values`, widened when all are equal; `None`
    /// without any.
    fn of(values: impl Iterator<Item = f64>) -> Option<Range> {
        let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values {
            low = low.min(v);
            high = high.max(v);
        }
        if !(low.is_finite() && high.is_finite()) {
            return None;
        }
        let (mut low_half, mut high_half) = (low / 2.0, high / 2.0);
        if high_half - low_half <= f64::EPSILON * high_half.abs().max(f64::MIN_POSITIVE) {
            let pad = (high_half.abs() * 0.05).max(0.5);
            low_half -= pad / 2.0;
            high_half += pad / 2.0;
        }
        Some(Range {
            low_half,
            high_half,
        })
    }

    /// Where `v` lies between the ends, 0 to 1.
    fn fraction(&self, v: f64) -> f64 {
        let span = self.high_half - self.low_half;
        let f = (v / 2.0 - self.low_half) / span;
        if f.is_finite() {
            f.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    fn to_px(&self, x: f64) -> f64 {
        LEFT + self.fraction(x) * (WIDTH - LEFT - RIGHT)
    }

    fn to_py(&self, y: f64) -> f64 {
        HEIGHT - BOTTOM - self.fraction(y) * (HEIGHT - TOP - BOTTOM)
    }
}

/// The finite points, thinned evenly to at most [`MAX_POINTS`].
fn finite_points(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let finite = points
        .iter()
        .filter(|(x, y)| x.is_finite() && y.is_finite());
    let count = finite.clone().count();
    let every = count.div_ceil(MAX_POINTS).max(1);
    finite.step_by(every).copied().collect()
}

/// Each series in words: how many values, their smallest, median and
/// largest, and how many were not numbers.
fn describe(series: &[Series<'_>]) -> String {
    let mut out = String::new();
    for (i, s) in series.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        let summary = Summary::of(s.points.iter().map(|p| p.1));
        let _ = write!(out, "{}: {}", clip(s.label, 80), summary);
    }
    if series.is_empty() {
        out.push_str("no series");
    }
    out
}

/// Count, not-a-number count, smallest, median and largest of some values.
pub struct Summary {
    pub count: usize,
    pub not_finite: usize,
    pub min: Option<f64>,
    pub median: Option<f64>,
    pub max: Option<f64>,
}

impl Summary {
    pub fn of(values: impl Iterator<Item = f64>) -> Summary {
        let mut finite = Vec::new();
        let mut not_finite = 0;
        for v in values {
            if v.is_finite() {
                finite.push(v);
            } else {
                not_finite += 1;
            }
        }
        finite.sort_by(f64::total_cmp);
        let n = finite.len();
        let median = match n {
            0 => None,
            _ if n % 2 == 1 => finite.get(n / 2).copied(),
            _ => match (finite.get(n / 2 - 1), finite.get(n / 2)) {
                (Some(a), Some(b)) => Some(a / 2.0 + b / 2.0),
                _ => None,
            },
        };
        Summary {
            count: n + not_finite,
            not_finite,
            min: finite.first().copied(),
            median,
            max: finite.last().copied(),
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), short_number);
        write!(
            f,
            "{} values, smallest {}, median {}, largest {}",
            self.count,
            shown(self.min),
            shown(self.median),
            shown(self.max)
        )?;
        if self.not_finite > 0 {
            write!(f, ", {} not numbers (left out)", self.not_finite)?;
        }
        Ok(())
    }
}

/// A number short enough for an axis: 4 significant decimals, or
/// scientific notation outside 0.001–1,000,000.
pub fn short_number(value: f64) -> String {
    if !value.is_finite() {
        format!("{value}")
    } else if value == 0.0 || (1e-3..1e6).contains(&value.abs()) {
        let text = format!("{value:.4}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        if text == "-0" {
            "0".to_owned()
        } else {
            text.to_owned()
        }
    } else {
        format!("{value:.3e}")
    }
}

/// At most `max` characters of `text`, with `…` when cut.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// `id` with only `[A-Za-z0-9_-]`, never empty.
fn clean_id(id: &str) -> String {
    let cleaned: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(64)
        .collect();
    if cleaned.is_empty() {
        "chart".to_owned()
    } else {
        format!("c-{cleaned}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every number in the SVG's attributes is finite (no `NaN`/`inf` in coordinates).
    fn coordinates_are_finite(svg: &str) -> bool {
        !svg.contains("=\"NaN")
            && !svg.contains("=\"inf")
            && !svg.contains("=\"-inf")
            && !svg.contains(",NaN")
            && !svg.contains(",inf")
    }

    #[test]
    fn a_comparison_draws_both_series_with_their_names_and_numbers() {
        let svg = samples_chart(
            "m1",
            "error rate",
            &[("baseline", &[1.0, 2.0, 3.0]), ("canary", &[2.0, 4.0, 6.0])],
        );
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.ends_with("</svg>"));
        assert!(
            svg.contains("<title id=\"c-m1-t\">error rate</title>"),
            "{svg}"
        );
        assert!(
            svg.contains("baseline: 3 values, smallest 1, median 2, largest 3; canary: 3 values, smallest 2, median 4, largest 6"),
            "{svg}"
        );
        assert!(svg.contains("baseline (solid line, circles)"), "{svg}");
        assert!(svg.contains("canary (dashed line, squares)"), "{svg}");
        assert_eq!(svg.matches("<path d=\"M").count(), 2, "{svg}");
        assert!(svg.contains(">6</text>"), "the top of the y axis: {svg}");
        assert!(coordinates_are_finite(&svg), "{svg}");
    }

    #[test]
    fn hostile_values_never_break_the_drawing() {
        let nan_only = [f64::NAN, f64::NAN];
        let huge = [f64::MAX, -f64::MAX, f64::INFINITY, f64::NEG_INFINITY, 0.0];
        let tiny = [f64::MIN_POSITIVE, 5e-324, 0.0, -0.0];
        let same = [7.0; 50];
        let cases: [&[f64]; 5] = [&[], &nan_only, &huge, &tiny, &same];
        for values in cases {
            let svg = samples_chart("x", "t", &[("a", values), ("b", values)]);
            assert!(coordinates_are_finite(&svg), "{values:?}: {svg}");
            assert!(svg.ends_with("</svg>"));
        }
        let svg = samples_chart("x", "t", &[("a", &nan_only)]);
        assert!(svg.contains("no numeric samples"), "{svg}");
        assert!(
            svg.contains("2 values, smallest -, median -, largest -, 2 not numbers"),
            "{svg}"
        );
        let svg = samples_chart("x", "t", &[("a", &huge)]);
        assert!(svg.contains("2 not numbers (left out)"), "{svg}");
        assert!(svg.contains("1.798e308"), "{svg}");
        assert!(samples_chart("x", "t", &[]).contains("no series"));
    }

    #[test]
    fn labels_and_titles_are_escaped() {
        let svg = samples_chart(
            "\"><script>",
            "<script>alert(1)</script>",
            &[("<b onmouseover='x'>&", &[1.0])],
        );
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(!svg.contains("<b "), "{svg}");
        assert!(
            svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{svg}"
        );
        assert!(
            svg.contains("&lt;b onmouseover=&#39;x&#39;&gt;&amp;"),
            "{svg}"
        );
        assert!(svg.contains("id=\"c-script-t\""), "{svg}");
        let bars = bar_chart(
            "<x>",
            "<t>",
            &["<ok>"],
            &[Bar {
                label: "<day>".into(),
                counts: vec![1],
            }],
        );
        assert!(
            !bars.contains("<ok>") && !bars.contains("<day>") && !bars.contains("<t>"),
            "{bars}"
        );
    }

    #[test]
    fn many_points_are_thinned() {
        let values: Vec<f64> = (0..100_000).map(f64::from).collect();
        let svg = samples_chart("big", "t", &[("a", &values)]);
        assert!(
            svg.matches("<circle").count() <= MAX_POINTS + 1,
            "one per point and the legend's"
        );
        assert!(svg.len() < 200_000, "{}", svg.len());
        assert!(svg.contains("100000 values"), "the text counts all of them");
    }

    #[test]
    fn a_line_chart_uses_its_x_ticks() {
        let series = [Series {
            label: "latency",
            points: vec![(0.0, 1.0), (30.0, 2.0), (60.0, f64::NAN)],
        }];
        let svg = line_chart("l", "latency", "seconds", &|x| format!("+{x}s"), &series);
        assert!(svg.contains(">+0s<") && svg.contains(">+30s<"), "{svg}");
        assert!(svg.contains(">seconds<"), "{svg}");
        assert!(svg.contains("1 not numbers"), "{svg}");
    }

    #[test]
    fn bars_write_their_totals_and_segments_in_words() {
        let svg = bar_chart(
            "d",
            "releases per day",
            &["succeeded", "failed"],
            &[
                Bar {
                    label: "11-26".into(),
                    counts: vec![2, 1],
                },
                Bar {
                    label: "11-27".into(),
                    counts: vec![0, 0],
                },
                Bar {
                    label: "11-28".into(),
                    counts: vec![u64::MAX, 1],
                },
            ],
        );
        assert!(
            svg.contains("<title>11-26: 2 succeeded, 1 failed</title>"),
            "{svg}"
        );
        assert!(svg.contains(">3</text>"), "{svg}");
        assert!(svg.contains("11-27: none"), "{svg}");
        assert!(svg.contains("failed (hatched)"), "{svg}");
        assert!(coordinates_are_finite(&svg), "{svg}");
        let empty = bar_chart("e", "t", &["a"], &[]);
        assert!(empty.contains("nothing in the period") && empty.ends_with("</svg>"));
        // More counts than segments, or fewer: no panic.
        let odd = bar_chart(
            "o",
            "t",
            &["a"],
            &[Bar {
                label: "x".into(),
                counts: vec![1, 2, 3],
            }],
        );
        assert!(odd.ends_with("</svg>"));
    }

    #[test]
    fn a_wide_legend_wraps_into_rows_inside_the_chart() {
        let one = bar_chart("a", "t", &["ok"], &[]);
        assert!(one.contains("height=\"252\""), "{one}");
        let long = "a long outcome name here";
        let four = bar_chart("b", "t", &[long, long, long, long], &[]);
        assert!(!four.contains("height=\"252\""), "{four}");
        // Every legend text starts inside the chart's width.
        for part in four.split("<text x=\"").skip(1) {
            let x: f64 = part
                .split('"')
                .next()
                .and_then(|x| x.parse().ok())
                .expect("x");
            assert!(x < WIDTH - RIGHT, "{x}: {four}");
        }
    }

    #[test]
    fn summaries_and_numbers() {
        let s = Summary::of([3.0, 1.0, f64::NAN, 2.0, 10.0].into_iter());
        assert_eq!((s.count, s.not_finite), (5, 1));
        assert_eq!((s.min, s.median, s.max), (Some(1.0), Some(2.5), Some(10.0)));
        assert_eq!(short_number(0.5), "0.5");
        assert_eq!(short_number(-0.00001), "-1.000e-5");
        assert_eq!(short_number(2_000_000.0), "2.000e6");
        assert_eq!(short_number(f64::NAN), "NaN");
        assert_eq!(clip("ééé", 2), "éé…");
        assert_eq!(clean_id(""), "chart");
    }
}
