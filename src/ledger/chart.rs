//! The month report as a picture to paste into a mail: each day's net settlement as a bar
//! (yuan, left axis), the differences still open of each reconciled day as a line (right
//! axis). Drawn by plotters into memory and encoded as PNG here; the text is set in the
//! DejaVu Sans committed under assets/fonts (its licence beside it), never a system font,
//! so the chart is the same on a server without fonts as on a desktop.

use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use thiserror::Error;
use time::Date;

use super::report::{Counts, MonthReport};

pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 600;

pub const BACKGROUND: RGBColor = WHITE;
/// A day whose net settlement is zero or more.
pub const BAR: RGBColor = RGBColor(70, 130, 180);
/// A day that paid out more than it took in.
pub const NEGATIVE_BAR: RGBColor = RGBColor(205, 92, 92);
pub const OPEN_LINE: RGBColor = RGBColor(230, 120, 20);
/// The slot of a day without figures, from top to bottom.
pub const UNKNOWN: RGBColor = RGBColor(240, 240, 240);
/// The grid lines, at each labelled value.
pub const GRID: RGBColor = RGBColor(215, 215, 215);

/// Where a day is in the picture (its bar's middle, or its slot's), for the tests.
pub(crate) type Slot = (Date, (i32, i32));

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

#[derive(Debug, Error)]
pub enum ChartError {
    #[error("cannot draw the chart: {0}")]
    Draw(String),
    #[error("cannot encode the chart as PNG: {0}")]
    Encode(#[from] png::EncodingError),
}

/// The chart of a month report, as a PNG file's bytes.
pub fn month_chart(report: &MonthReport) -> Result<Vec<u8>, ChartError> {
    let mut pixels = vec![0; (WIDTH * HEIGHT * 3) as usize];
    draw(report, &mut pixels)?;
    let mut png = Vec::new();
    let mut encoder = png::Encoder::new(&mut png, WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(png)
}

/// The embedded font, registered once for the process.
fn font() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    ok.then_some(())
        .ok_or_else(|| ChartError::Draw("the embedded font does not load".into()))
}

fn drawing<E: std::error::Error + Send + Sync>(error: DrawingAreaErrorKind<E>) -> ChartError {
    ChartError::Draw(error.to_string())
}

/// Draws the chart into `pixels` (RGB, [`WIDTH`] × [`HEIGHT`]); returns, for the tests,
/// where each day is: the middle of its bar, or of its slot when it has none.
pub(crate) fn draw(report: &MonthReport, pixels: &mut [u8]) -> Result<Vec<Slot>, ChartError> {
    font()?;
    let root = BitMapBackend::with_buffer(pixels, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&BACKGROUND).map_err(drawing)?;
    let bars = plot(report, &root)?;
    root.present().map_err(drawing)?;
    Ok(bars)
}

fn plot(
    report: &MonthReport,
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
) -> Result<Vec<Slot>, ChartError> {
    let days = report.days.len();
    // Day n of the month is at x = n, its bar from n − 0.34 to n + 0.34.
    let at = |index: usize| index as f64 + 1.0;
    // Yuan as a float, for the picture only: every figure printed is exact.
    let net: Vec<Option<f64>> = (report.days.iter())
        .map(|day| {
            day.figures
                .map(|(_, figures)| figures.net_units() as f64 / 100_000.0)
        })
        .collect();
    let open: Vec<Option<(f64, i64)>> = (report.days.iter().enumerate())
        .map(|(index, day)| {
            let open = |counts: Counts| i64::try_from(counts.open).unwrap_or(i64::MAX);
            day.run.map(|(_, counts)| (at(index), open(counts)))
        })
        .collect();
    let (low, high) = (net.iter().flatten()).fold((0.0f64, 0.0f64), |(low, high), yuan| {
        (low.min(*yuan), high.max(*yuan))
    });
    // Room above the tallest bar for the legend, below the deepest for its own sake, and
    // some height when every day is 0.
    let span = (high - low).max(1.0);
    let low = if low < 0.0 { low - span * 0.08 } else { 0.0 };
    let high = high + span * 0.25;
    let most_open = open.iter().flatten().map(|(_, n)| *n).max().unwrap_or(0);
    let open_top = (most_open + most_open / 4).max(4) + 1;

    let title = format!(
        "{} · {}: net settlement and open differences",
        report.mch_id, report.month
    );
    let x_range = 0.5..days as f64 + 0.5;
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FAMILY, 26))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(96)
        .right_y_label_area_size(64)
        .build_cartesian_2d(x_range.clone(), low..high)
        .map_err(drawing)?
        .set_secondary_coord(x_range, 0..open_top);
    // A day without figures is shaded from top to bottom, under the grid: unknown, not zero.
    let unknown: Vec<f64> = (net.iter().enumerate())
        .filter(|(_, net)| net.is_none())
        .map(|(index, _)| at(index))
        .collect();
    let half = 0.5;
    chart
        .draw_series(
            unknown.iter().map(|&day| {
                Rectangle::new([(day - half, low), (day + half, high)], UNKNOWN.filled())
            }),
        )
        .map_err(drawing)?
        .label("no bill and no run")
        .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], UNKNOWN.filled()));
    let label = (FAMILY, 15);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(days)
        .x_desc(format!("day of {}", report.month))
        .y_desc("net settlement (yuan)")
        .x_label_formatter(&|day| format!("{day:.0}"))
        .y_label_formatter(&|yuan| axis_yuan(*yuan, high - low))
        .label_style(label)
        .axis_desc_style((FAMILY, 16))
        .bold_line_style(GRID)
        .y_max_light_lines(0)
        .draw()
        .map_err(drawing)?;
    chart
        .configure_secondary_axes()
        .y_desc("open differences")
        .label_style(label)
        .axis_desc_style((FAMILY, 16))
        .draw()
        .map_err(drawing)?;

    let width = 0.34;
    let bars: Vec<(usize, f64)> = (net.iter().enumerate())
        .filter_map(|(index, net)| Some((index, (*net)?)))
        .collect();
    chart
        .draw_series(bars.iter().map(|&(index, yuan)| {
            let colour = if yuan < 0.0 { NEGATIVE_BAR } else { BAR };
            let day = at(index);
            Rectangle::new([(day - width, 0.0), (day + width, yuan)], colour.filled())
        }))
        .map_err(drawing)?
        .label("net settlement (yuan)")
        .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], BAR.filled()));
    // A day never reconciled breaks the line: it has no count, not zero.
    let line = OPEN_LINE.stroke_width(3);
    for stretch in open.split(Option::is_none) {
        let points: Vec<(f64, i64)> = stretch.iter().flatten().copied().collect();
        chart
            .draw_secondary_series(LineSeries::new(points, line))
            .map_err(drawing)?;
    }
    chart
        .draw_secondary_series(
            (open.iter().flatten()).map(|&point| Circle::new(point, 4, OPEN_LINE.filled())),
        )
        .map_err(drawing)?
        .label("open differences (right axis)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], OPEN_LINE.stroke_width(3)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FAMILY, 15))
        .background_style(BACKGROUND.mix(0.9))
        .border_style(GRID)
        .draw()
        .map_err(drawing)?;

    // The middle of each day's bar, or of its slot when it has none.
    let middle = (low + high) / 2.0;
    let slots = (report.days.iter().zip(&net).enumerate())
        .map(|(index, (day, net))| {
            let y = net.map_or(middle, |yuan| yuan / 2.0);
            (day.date, chart.backend_coord(&(at(index), y)))
        })
        .collect();
    Ok(slots)
}

/// An axis label in yuan: whole yuan once the axis spans more than a hundred.
fn axis_yuan(yuan: f64, span: f64) -> String {
    let places = if span > 100.0 { 0 } else { 2 };
    // No "-0" at the baseline.
    format!("{:.places$}", yuan + 0.0)
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::ledger::report::{Counts, DayReport, Figures, Source};
    use crate::time::YearMonth;

    fn figures(settlement_fen: i128) -> Option<(Source, Figures)> {
        let figures = Figures {
            payment_count: 1,
            payment_fen: settlement_fen,
            settlement_fen,
            ..Figures::default()
        };
        Some((Source::Bill(1), figures))
    }

    fn report() -> MonthReport {
        let month = YearMonth::of(date!(2026 - 11 - 01));
        let days = month
            .days()
            .map(|date| {
                let day = date.day();
                let figures = match day {
                    3 => figures(-20_000),
                    5 | 6 | 9 => None,
                    _ => figures(100_000 + i128::from(day) * 1_000),
                };
                DayReport {
                    date,
                    figures,
                    run: (day < 20 && figures.is_some()).then_some((
                        1,
                        Counts {
                            found: 4,
                            closed: 1,
                            open: 3,
                        },
                    )),
                }
            })
            .collect();
        MonthReport {
            mch_id: "1900000109".into(),
            month,
            days,
            total: Figures::default(),
            differences: Counts::default(),
        }
    }

    fn pixel(pixels: &[u8], (x, y): (i32, i32)) -> RGBColor {
        let at = ((y as u32 * WIDTH + x as u32) * 3) as usize;
        RGBColor(pixels[at], pixels[at + 1], pixels[at + 2])
    }

    #[test]
    fn each_day_has_its_bar_or_is_shaded_unknown_and_the_rest_is_background() {
        let report = report();
        let mut pixels = vec![0; (WIDTH * HEIGHT * 3) as usize];
        let slots = draw(&report, &mut pixels).unwrap();
        assert_eq!(slots.len(), 30);
        for (date, point) in &slots {
            let expected = match date.day() {
                3 => NEGATIVE_BAR,
                5 | 6 | 9 => UNKNOWN,
                _ => BAR,
            };
            assert_eq!(pixel(&pixels, *point), expected, "{date}");
        }
        // Above day 25's bar, nothing but the background and grid lines.
        let (x, mut y) = slots[24].1;
        while pixel(&pixels, (x, y)) == BAR {
            y -= 1;
        }
        let above: Vec<RGBColor> = (1..40).map(|up| pixel(&pixels, (x, y - up))).collect();
        let lines = [BACKGROUND, GRID];
        assert!(above.iter().all(|p| lines.contains(p)), "{above:?}");
        assert!(above.contains(&BACKGROUND));
        assert!(
            pixels
                .chunks(3)
                .any(|p| RGBColor(p[0], p[1], p[2]) == OPEN_LINE)
        );
    }

    #[test]
    fn the_chart_is_a_png_of_its_size() {
        let png = month_chart(&report()).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        assert_eq!(info.color_type, png::ColorType::Rgb);
    }

    #[test]
    fn axis_labels_are_yuan() {
        assert_eq!(axis_yuan(1234.4, 5000.0), "1234");
        assert_eq!(axis_yuan(12.5, 50.0), "12.50");
        assert_eq!(axis_yuan(-0.25, 1.0), "-0.25");
    }
}
