//! [`Report`]: what an experiment measured: a summary of named figures,
//! time series, and the files written from them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::ExperimentError;

/// One measured quantity over time.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// What it is, e.g. `"mptcp goodput"` or `"subflow 1 cwnd"`.
    pub name: String,
    /// Its unit, e.g. `"Mbit/s"`.
    pub unit: &'static str,
    /// `(seconds since the start, value)`, in time order.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// An empty series.
    pub fn new(name: impl Into<String>, unit: &'static str) -> Self {
        Self {
            name: name.into(),
            unit,
            points: Vec::new(),
        }
    }

    /// The mean of the values at times in `[from, to)`, if there are any.
    pub fn mean(&self, from: f64, to: f64) -> Option<f64> {
        let (sum, n) = self
            .points
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .fold((0.0, 0u32), |(s, n), (_, v)| (s + v, n + 1));
        (n > 0).then(|| sum / f64::from(n))
    }
}

/// The outcome of one experiment run.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The experiment's name (`shared-bottleneck`, ...).
    pub experiment: String,
    /// The congestion control under test.
    pub cc: String,
    /// The figures the experiment is about, by name (`mptcp_share`, ...),
    /// in the order they are printed.
    pub summary: Vec<(String, f64)>,
    /// Plain-language lines that go with the summary: the setup, what to
    /// expect.
    pub notes: Vec<String>,
    /// Time series: one or more panels, each a group of series plotted
    /// together under a title.
    pub panels: Vec<(String, Vec<Series>)>,
    /// The files written by [`Report::write`].
    pub files: Vec<PathBuf>,
}

impl Report {
    /// An empty report.
    pub(crate) fn new(experiment: &str, cc: &str) -> Self {
        Self {
            experiment: experiment.to_owned(),
            cc: cc.to_owned(),
            summary: Vec::new(),
            notes: Vec::new(),
            panels: Vec::new(),
            files: Vec::new(),
        }
    }

    /// The summary figure `name`, if the experiment gave it.
    pub fn figure(&self, name: &str) -> Option<f64> {
        self.summary
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }

    /// The file stem of this run's results: `EXPERIMENT-CC`.
    pub fn stem(&self) -> String {
        format!("{}-{}", self.experiment, self.cc)
    }

    /// Write `STEM.csv` (every series: `panel,series,unit,time_s,value`)
    /// and `STEM.png` (a plot per panel) into `dir`, creating it, and
    /// record them in [`Report::files`].
    ///
    /// # Errors
    ///
    /// The folder or a file cannot be written, or the plot cannot be drawn.
    pub fn write(&mut self, dir: &Path) -> Result<(), ExperimentError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ExperimentError::Write { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let csv = dir.join(format!("{}.csv", self.stem()));
        std::fs::write(&csv, self.csv()).map_err(io(&csv))?;
        self.files.push(csv);
        let png = dir.join(format!("{}.png", self.stem()));
        crate::plot::draw(self, &png)?;
        self.files.push(png);
        Ok(())
    }

    /// Every series as CSV rows with a header.
    pub fn csv(&self) -> String {
        let mut out = String::from("panel,series,unit,time_s,value\n");
        for (panel, series) in &self.panels {
            for s in series {
                for (t, v) in &s.points {
                    let _ = writeln!(
                        out,
                        "{},{},{},{t:.3},{v:.6}",
                        csv_field(panel),
                        csv_field(&s.name),
                        s.unit
                    );
                }
            }
        }
        out
    }

    /// One JSON object: `experiment`, `cc`, every summary figure, and
    /// `files`.
    pub fn json(&self) -> String {
        let mut out = format!(
            "{{\"experiment\":{},\"cc\":{}",
            json_string(&self.experiment),
            json_string(&self.cc)
        );
        for (name, value) in &self.summary {
            let value = if value.is_finite() {
                format!("{value:.6}")
            } else {
                "null".to_owned()
            };
            let _ = write!(out, ",{}:{value}", json_string(name));
        }
        out.push_str(",\"files\":[");
        for (i, f) in self.files.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&json_string(&f.display().to_string()));
        }
        out.push_str("]}");
        out
    }

    /// The summary for people: notes, then one figure per line.
    pub fn text(&self) -> String {
        let mut out = format!("{} with {}\n", self.experiment, self.cc);
        for note in &self.notes {
            let _ = writeln!(out, "  {note}");
        }
        let width = self.summary.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        for (name, value) in &self.summary {
            let _ = writeln!(out, "  {name:<width$}  {value:.3}");
        }
        for f in &self.files {
            let _ = writeln!(out, "  wrote {}", f.display());
        }
        out
    }
}

/// The figure-by-figure mean of several runs' summaries (in the first
/// one's order), each followed by its `_min` and `_max`.
pub(crate) fn mean_of(summaries: &[Vec<(String, f64)>]) -> Vec<(String, f64)> {
    let Some(first) = summaries.first() else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(first.len() * 3);
    for (name, _) in first {
        let values: Vec<f64> = summaries
            .iter()
            .filter_map(|s| s.iter().find(|(n, _)| n == name).map(|(_, v)| *v))
            .collect();
        let n = values.len().max(1) as f64;
        out.push((name.clone(), values.iter().sum::<f64>() / n));
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        out.push((format!("{name}_min"), min));
        out.push((format!("{name}_max"), max));
    }
    out
}

/// `s` quoted for CSV if it needs to be.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let mut r = Report::new("shared-bottleneck", "lia");
        r.summary.push(("mptcp_share".into(), 0.5));
        r.summary.push(("nan".into(), f64::NAN));
        let mut s = Series::new("a, \"b\"", "Mbit/s");
        s.points = vec![(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)];
        r.panels.push(("goodput".into(), vec![s]));
        r
    }

    #[test]
    fn runs_average_figure_by_figure() {
        let a = vec![("x".to_owned(), 1.0), ("y".to_owned(), 10.0)];
        let b = vec![("y".to_owned(), 20.0), ("x".to_owned(), 3.0)];
        let m = mean_of(&[a, b]);
        let names: Vec<&str> = m.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["x", "x_min", "x_max", "y", "y_min", "y_max"]);
        let values: Vec<f64> = m.iter().map(|(_, v)| *v).collect();
        assert_eq!(values, [2.0, 1.0, 3.0, 15.0, 10.0, 20.0]);
        assert!(mean_of(&[]).is_empty());
    }

    #[test]
    fn mean_over_a_window() {
        let r = sample();
        let s = &r.panels[0].1[0];
        assert_eq!(s.mean(0.0, 2.0), Some(2.0));
        assert_eq!(s.mean(1.0, 10.0), Some(4.0));
        assert_eq!(s.mean(5.0, 10.0), None);
    }

    #[test]
    fn csv_quotes_and_json_escapes() {
        let r = sample();
        assert_eq!(
            r.csv(),
            "panel,series,unit,time_s,value\n\
             goodput,\"a, \"\"b\"\"\",Mbit/s,0.000,1.000000\n\
             goodput,\"a, \"\"b\"\"\",Mbit/s,1.000,3.000000\n\
             goodput,\"a, \"\"b\"\"\",Mbit/s,2.000,5.000000\n"
        );
        assert_eq!(
            r.json(),
            "{\"experiment\":\"shared-bottleneck\",\"cc\":\"lia\",\"mptcp_share\":0.500000,\"nan\":null,\"files\":[]}"
        );
        assert_eq!(json_string("a\"\\\n"), "\"a\\\"\\\\\\u000a\"");
        assert_eq!(r.figure("mptcp_share"), Some(0.5));
        assert_eq!(r.stem(), "shared-bottleneck-lia");
    }
}
