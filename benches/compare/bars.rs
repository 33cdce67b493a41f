//! A grouped bar chart drawn with plotters' SVG backend: a title, a
//! caption and a legend row above the plot, a bar per series in each
//! group with its value over it, "n/a" where a value was not measured,
//! group labels of one or two lines under the axis, and a linear or a
//! log y axis. Knows nothing of what the bars mean.

use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use projetyd_testkit::bench::Result;

pub struct Group {
    /// May hold one `\n` (two lines).
    pub label: String,
    /// One per series; `None` is not measured.
    pub values: Vec<Option<f64>>,
}

pub struct BarChart {
    pub title: String,
    pub caption: String,
    pub y_label: String,
    /// Name and colour of each series, in the order of the bars.
    pub series: Vec<(String, RGBColor)>,
    pub groups: Vec<Group>,
    pub log: bool,
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Chart<'a, 'b, Y> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, Y>>;

const WIDTH: u32 = 860;
const HEIGHT: u32 = 460;
/// The plot's edges: left of it the y axis, above it the header, below
/// it the group labels.
const LEFT: u32 = 80;
const RIGHT_MARGIN: u32 = 20;
const TOP: u32 = 78;
const BELOW: u32 = 70;
const GRID: RGBColor = RGBColor(0xdd, 0xdd, 0xdd);
const AXIS: RGBColor = RGBColor(0x33, 0x33, 0x33);
const CAPTION: RGBColor = RGBColor(0x55, 0x55, 0x55);
const MISSING: RGBColor = RGBColor(0x88, 0x88, 0x88);

/// A font of `px` pixels: plotters' SVG backend writes a font size of
/// the size given / 1.24.
fn font(px: f64) -> FontDesc<'static> {
    ("Helvetica, Arial, sans-serif", px * 1.24).into_font()
}

fn text(px: f64, color: RGBColor) -> TextStyle<'static> {
    font(px).color(&color)
}

impl BarChart {
    /// The chart as SVG text.
    pub fn render(&self) -> Result<String> {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
            root.fill(&WHITE)?;
            self.header(&root)?;
            let values = self.values();
            let vmax = values.iter().copied().fold(0.0, f64::max);
            let vmin = values.iter().copied().fold(f64::INFINITY, f64::min);
            if self.log {
                // A decade below the smallest value, so that its bar shows.
                let lo = 10f64.powf(if vmin.is_finite() {
                    vmin.log10().floor() - 1.0
                } else {
                    0.0
                });
                let hi = 10f64.powf(vmax.max(lo * 10.0).log10().ceil());
                let decades = (hi.log10() - lo.log10()).round() as usize;
                // plotters finds the decades from logarithms: a hair of
                // room keeps rounding from dropping the first and the last.
                let (lo, hi) = (lo / 1.001, hi * 1.001);
                self.plot(&root, (lo..hi).log_scale(), lo, decades + 1)?;
            } else {
                // Headroom for the value labels above the bars.
                let (max, step) = linear_axis(vmax * 1.15);
                self.plot(&root, 0.0..max, 0.0, (max / step).round() as usize + 1)?;
            }
            root.present()?;
        }
        Ok(svg)
    }

    /// The finite positive values: what the axis must hold.
    fn values(&self) -> Vec<f64> {
        self.groups
            .iter()
            .flat_map(|g| g.values.iter().flatten().copied())
            .filter(|v| v.is_finite() && *v > 0.0)
            .collect()
    }

    /// The title, the caption, and a legend row: a square of colour and
    /// the name of each series.
    fn header(&self, root: &Area) -> Result<()> {
        let centre = Pos::new(HPos::Center, VPos::Top);
        let middle = (WIDTH / 2) as i32;
        root.draw(&Text::new(
            self.title.as_str(),
            (middle, 10),
            font(16.0).style(FontStyle::Bold).color(&BLACK).pos(centre),
        ))?;
        root.draw(&Text::new(
            self.caption.as_str(),
            (middle, 32),
            text(11.0, CAPTION).pos(centre),
        ))?;
        let mut x = LEFT as i32;
        for (name, color) in &self.series {
            root.draw(&Rectangle::new([(x, 54), (x + 12, 66)], color.filled()))?;
            root.draw(&Text::new(
                name.as_str(),
                (x + 16, 60),
                text(12.0, BLACK).pos(Pos::new(HPos::Left, VPos::Center)),
            ))?;
            x += 30 + 7 * name.len() as i32;
        }
        Ok(())
    }

    /// The axes, the grid, the bars and their labels, on the y axis `y`
    /// (bars start at `base`) with about `ticks` ticks.
    fn plot<Y>(&self, root: &Area, y: Y, base: f64, ticks: usize) -> Result<()>
    where
        Y: AsRangedCoord<Value = f64>,
        Y::CoordDescType: ValueFormatter<f64>,
    {
        let groups = self.groups.len().max(1);
        let mut chart = ChartBuilder::on(root)
            .margin_top(TOP)
            .margin_right(RIGHT_MARGIN)
            .x_label_area_size(BELOW)
            .y_label_area_size(LEFT)
            .build_cartesian_2d(0.0..groups as f64, y)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_labels(ticks)
            .y_label_formatter(&|v| fmt_tick(*v))
            .y_desc(self.y_label.as_str())
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(AXIS)
            .label_style(text(11.0, BLACK))
            .axis_desc_style(text(12.0, BLACK))
            .draw()?;
        self.bars(&mut chart, base)?;
        self.group_labels(root, &chart, base)
    }

    /// A bar per value with the value over it, "n/a" where there is none;
    /// the bars of a group fill 80% of its width.
    fn bars<Y: Ranged<ValueType = f64>>(&self, chart: &mut Chart<'_, '_, Y>, base: f64) -> Result<()> {
        let (xs, _) = chart.plotting_area().get_pixel_range();
        let unit_px = f64::from(xs.end - xs.start) / self.groups.len().max(1) as f64;
        let bar = 0.8 / self.series.len().max(1) as f64;
        // A 2-pixel gap between the bars of a group.
        let gap = 2.0 / unit_px;
        for (gi, group) in self.groups.iter().enumerate() {
            for (si, value) in group.values.iter().enumerate() {
                let x = gi as f64 + 0.1 + si as f64 * bar;
                let color = self.series[si % self.series.len()].1;
                let centre = x + bar / 2.0;
                let Some(v) = value.filter(|v| v.is_finite()) else {
                    let style = text(10.0, MISSING).pos(Pos::new(HPos::Center, VPos::Bottom));
                    chart
                        .draw_series([EmptyElement::at((centre, base)) + Text::new("n/a", (0, -4), style)])?;
                    continue;
                };
                let top = v.max(base);
                chart.draw_series([Rectangle::new(
                    [(x, base), (x + (bar - gap).max(gap / 2.0), top)],
                    color.filled(),
                )])?;
                chart.draw_series([EmptyElement::at((centre, top))
                    + Text::new(fmt_value(v), (0, -4), value_style(bar * unit_px))])?;
            }
        }
        Ok(())
    }

    /// Each group's label under the axis, a line under the other.
    fn group_labels<Y: Ranged<ValueType = f64>>(
        &self,
        root: &Area,
        chart: &Chart<'_, '_, Y>,
        base: f64,
    ) -> Result<()> {
        for (gi, group) in self.groups.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(gi as f64 + 0.5, base));
            for (li, line) in group.label.split('\n').enumerate() {
                root.draw(&Text::new(
                    line,
                    (px, py + 8 + 15 * li as i32),
                    text(12.0, BLACK).pos(Pos::new(HPos::Center, VPos::Top)),
                ))?;
            }
        }
        Ok(())
    }
}

/// A value over its bar; turned upright when the bar is too narrow for it.
fn value_style(bar_px: f64) -> TextStyle<'static> {
    if bar_px < 30.0 {
        text(10.0, BLACK)
            .transform(FontTransform::Rotate270)
            .pos(Pos::new(HPos::Left, VPos::Center))
    } else {
        text(11.0, BLACK).pos(Pos::new(HPos::Center, VPos::Bottom))
    }
}

fn fmt_tick(v: f64) -> String {
    // Ticks come from sums of steps: 0.6000000000000001 is 0.6.
    let v = (v * 1e6).round() / 1e6;
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

fn fmt_value(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A linear axis from 0 to a round maximum: (max, step).
fn linear_axis(max: f64) -> (f64, f64) {
    let max = if max > 0.0 { max } else { 1.0 };
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    ((max / step).ceil() * step, step)
}
