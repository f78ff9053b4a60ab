//! The PNG of a [`Report`]: one chart per panel, stacked, each with its
//! series as lines and a legend.
//!
//! Text is drawn with DejaVu Sans embedded in the binary (`dejavu`,
//! through plotters' `ab_glyph` backend), so no system font library or
//! font file is needed.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::register_font;

use crate::error::ExperimentError;
use crate::report::Report;

/// Pixels per panel.
const PANEL: (u32, u32) = (1000, 360);

/// Line colours, in series order.
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

static FONT: Once = Once::new();

/// Draw `report`'s panels into `path`.
///
/// # Errors
///
/// [`ExperimentError::Plot`] if plotters fails (the file cannot be
/// written, say).
pub(crate) fn draw(report: &Report, path: &Path) -> Result<(), ExperimentError> {
    FONT.call_once(|| {
        // The embedded font parses; if it did not, text would be missing
        // and plotters would report it below.
        let _ = register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    });
    let fail = |e: &dyn std::fmt::Display| ExperimentError::Plot {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let panels = u32::try_from(report.panels.len().max(1)).unwrap_or(1);
    let root = BitMapBackend::new(path, (PANEL.0, PANEL.1 * panels)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let areas = root.split_evenly((report.panels.len().max(1), 1));
    for ((title, series), area) in report.panels.iter().zip(areas) {
        let (x_max, y_max) = series
            .iter()
            .flat_map(|s| s.points.iter())
            .fold((1.0f64, 0.0f64), |(x, y), (t, v)| (x.max(*t), y.max(*v)));
        let y_max = if y_max > 0.0 { y_max * 1.1 } else { 1.0 };
        let unit = series.first().map_or("", |s| s.unit);
        let caption = format!("{} — {} ({})", report.stem(), title, unit);
        let mut chart = ChartBuilder::on(&area)
            .caption(caption, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            .map_err(|e| fail(&e))?;
        chart
            .configure_mesh()
            .x_desc("time (s)")
            .y_desc(unit)
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| fail(&e))?;
        for (i, s) in series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    colour.stroke_width(2),
                ))
                .map_err(|e| fail(&e))?
                .label(s.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}
