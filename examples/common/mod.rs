//! Helpers shared by the examples: PNG line and scatter plots (plotters, with an embedded
//! DejaVu Sans font so that no system font library is needed).
#![allow(dead_code)] // each example uses a different subset

use plotters::prelude::*;
use std::error::Error;
use std::sync::Once;

/// The font every label is drawn with, embedded so plots work on a bare machine.
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Registers the embedded font (once); call before drawing any text.
pub fn ensure_font() -> Result<(), Box<dyn Error>> {
    register_font()
}

fn register_font() -> Result<(), Box<dyn Error>> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .map_err(|_| "could not register the embedded font".into());
    });
    result
}

/// How a series is drawn.
#[derive(Clone, Copy)]
pub enum Mark {
    /// A connected line.
    Line,
    /// Dots.
    Points,
    /// A dashed line (drawn as short segments).
    Dashed,
}

/// One named series of (x, y) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub mark: Mark,
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn bounds(series: &[Series]) -> (f64, f64, f64, f64) {
    let pts = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return (0.0, 1.0, 0.0, 1.0);
    }
    let pad = |a: f64, b: f64| if b > a { (b - a) * 0.05 } else { 0.5 };
    (
        x0 - pad(x0, x1),
        x1 + pad(x0, x1),
        y0 - pad(y0, y1),
        y1 + pad(y0, y1),
    )
}

/// Draws `series` into a PNG at `path`; `log_y` plots the y axis logarithmically.
pub fn plot(path: &str, title: &str, series: &[Series], log_y: bool) -> Result<(), Box<dyn Error>> {
    register_font()?;
    let root = BitMapBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let (x0, x1, y0, y1) = bounds(series);
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(title, ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70);
    if log_y {
        let lo = series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .filter(|v| *v > 0.0)
            .fold(f64::MAX, f64::min)
            .min(1.0);
        let mut chart =
            builder.build_cartesian_2d(x0..x1, (lo * 0.5..y1.max(lo) * 2.0).log_scale())?;
        chart
            .configure_mesh()
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .draw()?;
        draw_series(&mut chart, series)?;
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    } else {
        let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1)?;
        chart.configure_mesh().draw()?;
        draw_series(&mut chart, series)?;
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

fn draw_series<DB, X, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    series: &[Series],
) -> Result<(), Box<dyn Error>>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let pts = s
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite());
        let anno = match s.mark {
            Mark::Line => chart.draw_series(LineSeries::new(pts, color.stroke_width(2)))?,
            Mark::Points => chart.draw_series(pts.map(|p| Circle::new(p, 3, color.filled())))?,
            Mark::Dashed => {
                let v: Vec<(f64, f64)> = pts.collect();
                chart.draw_series(
                    v.windows(2)
                        .enumerate()
                        .filter(|(j, _)| j % 2 == 0)
                        .map(|(_, w)| PathElement::new(vec![w[0], w[1]], color.stroke_width(2))),
                )?
            }
        };
        anno.label(s.name.as_str()).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
        });
    }
    Ok(())
}

/// Formats like Python's `"{:.4e}".format(x)`: four decimals and a signed two-digit exponent
/// (`2.2592e-01`), which Rust's `{:.4e}` writes as `2.2592e-1`.
pub fn py_sci(x: f64) -> String {
    let s = format!("{x:.4e}");
    match s.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => s,
    }
}
