//! The Prometheus text exposition format, version 0.0.4 (Prometheus' "Exposition formats"
//! page): per family one `# HELP` and one `# TYPE` line, then its samples
//! `name{label="value",…} value`, one per line, `\n` line ends. Label values escape `\`, `"`
//! and newline; help text escapes `\` and newline. Knows the format, not what is measured.

use super::catalog::Family;
use crate::scoreboard::{octave_bounds, Histogram};
use std::fmt::Write;

/// What `Content-Type` says a scrape gets.
pub(super) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's type (the `# TYPE` line).
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Labels of one sample, in order.
pub(super) type Labels<'a> = &'a [(&'a str, &'a str)];

/// The text of one scrape, written family by family.
#[derive(Debug, Default)]
pub(super) struct Exposition {
    text: String,
}

impl Exposition {
    /// Start a family: its samples follow until the next one starts (the format wants each
    /// family's samples together, after its HELP and TYPE).
    pub fn family(&mut self, family: &Family) {
        let help = family.help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.text, "# HELP {} {help}", family.name);
        let _ = writeln!(self.text, "# TYPE {} {}", family.name, family.kind.word());
    }

    /// A family of one sample without labels.
    pub fn single(&mut self, family: &Family, value: u64) {
        self.family(family);
        self.count(family.name, &[], value);
    }

    /// A family with one sample per item of `items` that has a value.
    pub fn each<T>(
        &mut self,
        family: &Family,
        items: &[T],
        sample: impl Fn(&T) -> Option<(Vec<(&str, &str)>, f64)>,
    ) {
        self.family(family);
        for item in items {
            if let Some((labels, value)) = sample(item) {
                self.sample(family.name, &labels, value);
            }
        }
    }

    pub fn sample(&mut self, name: &str, labels: Labels<'_>, value: f64) {
        self.text.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.text, " {}", number(value));
    }

    /// An integer sample (counts print exactly, whatever their size).
    pub fn count(&mut self, name: &str, labels: Labels<'_>, value: u64) {
        self.text.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.text, " {value}");
    }

    /// A histogram's samples: cumulative `_bucket{le=…}` at each power of two of the latency
    /// buckets (in seconds) and `+Inf`, `_sum`, `_count`.
    pub fn histogram(&mut self, name: &str, labels: Labels<'_>, hist: &Histogram) {
        let bucket = format!("{name}_bucket");
        for (us, end) in octave_bounds() {
            self.text.push_str(&bucket);
            self.labels(labels, Some(&number(us as f64 / 1e6)));
            let _ = writeln!(self.text, " {}", hist.count_below(end));
        }
        self.text.push_str(&bucket);
        self.labels(labels, Some("+Inf"));
        let _ = writeln!(self.text, " {}", hist.count());
        self.sample(&format!("{name}_sum"), labels, hist.approx_sum_seconds());
        self.count(&format!("{name}_count"), labels, hist.count());
    }

    fn labels(&mut self, labels: Labels<'_>, le: Option<&str>) {
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.text.push('{');
        let all = labels.iter().copied().chain(le.map(|v| ("le", v)));
        for (i, (key, value)) in all.enumerate() {
            if i > 0 {
                self.text.push(',');
            }
            let _ = write!(self.text, "{key}=\"{}\"", escape_label(value));
        }
        self.text.push('}');
    }

    pub fn into_text(self) -> String {
        self.text
    }
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Go's `ParseFloat` reads what Rust's `Display` writes for finite values (never an
/// exponent); the special values have their own spellings in the format.
fn number(v: f64) -> String {
    match v {
        v if v.is_nan() => "NaN".into(),
        v if v == f64::INFINITY => "+Inf".into(),
        v if v == f64::NEG_INFINITY => "-Inf".into(),
        v => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_samples_and_escapes() {
        let mut e = Exposition::default();
        let x = Family {
            name: "x_total",
            kind: Kind::Counter,
            help: "A \\ help\nline.",
        };
        e.single(&x, 3);
        e.family(&Family {
            name: "y",
            kind: Kind::Gauge,
            help: "Y.",
        });
        e.sample("y", &[("worker", "1"), ("path", "a\"b\\c\nd")], 0.5);
        let text = e.into_text();
        assert_eq!(
            text,
            "# HELP x_total A \\\\ help\\nline.\n# TYPE x_total counter\nx_total 3\n\
             # HELP y Y.\n# TYPE y gauge\ny{worker=\"1\",path=\"a\\\"b\\\\c\\nd\"} 0.5\n"
        );
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_in_inf() {
        let mut hist = Histogram::default();
        hist.0[crate::scoreboard::bucket_of(1_000)] += 2; // 1 ms
        hist.0[crate::scoreboard::bucket_of(u64::MAX)] += 1; // beyond the last bound
        let mut e = Exposition::default();
        e.histogram("d_seconds", &[("worker", "0")], &hist);
        let text = e.into_text();
        assert!(
            text.contains("d_seconds_bucket{worker=\"0\",le=\"0.000064\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("d_seconds_bucket{worker=\"0\",le=\"0.001024\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("d_seconds_bucket{worker=\"0\",le=\"134.217728\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("d_seconds_bucket{worker=\"0\",le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("d_seconds_count{worker=\"0\"} 3\n"), "{text}");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(1e-7), "0.0000001");
    }
}
