//! docs/dnsperf.svg: answered queries per second and CPU per query, one bar per server.

use std::path::Path;

use plotters::{
    prelude::*,
    style::text_anchor::{HPos, Pos, VPos},
};

use super::report::Row;

pub fn draw(rows: &[Row], path: &Path, subtitle: &str) -> Result<(), String> {
    let rows: Vec<&Row> = rows.iter().filter(|r| r.failed.is_none()).collect();
    if rows.is_empty() {
        return Err("no server was measured".into());
    }
    let root = SVGBackend::new(path, (960, 720)).into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let root = root.titled(&format!("dnsperf, same zone and query mix — {subtitle}"), ("sans-serif", 18)).map_err(e)?;
    let (top, bottom) = root.split_vertically(360);
    // A client-bound number is a floor for the server, so it is marked on the chart too.
    let names: Vec<String> =
        rows.iter().map(|r| if r.client_bound { format!("{}*", r.name) } else { r.name.clone() }).collect();
    bars(
        &top,
        &names,
        &rows.iter().map(|r| r.qps / 1000.0).collect::<Vec<_>>(),
        "answered queries/s (thousands; * = the client core was saturated, client-bound)",
        &RGBColor(70, 110, 190),
    )?;
    let cpu: Vec<f64> = rows.iter().map(|r| r.cpu_us_per_query.unwrap_or(0.0)).collect();
    bars(
        &bottom,
        &names,
        &cpu,
        "server-core CPU µs per answered query (server threads + its NAPI thread, XDP included)",
        &RGBColor(200, 90, 60),
    )?;
    root.present().map_err(e)
}

fn bars(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    names: &[String],
    values: &[f64],
    caption: &str,
    color: &RGBColor,
) -> Result<(), String> {
    let max = values.iter().cloned().fold(0.0, f64::max).max(1e-9) * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 15))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d((0..names.len() as i32 - 1).into_segmented(), 0.0..max)
        .map_err(e)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .x_labels(names.len())
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => names.get(*i as usize).cloned().unwrap_or_default(),
            SegmentValue::Last => String::new(),
        })
        .draw()
        .map_err(e)?;
    chart
        .draw_series(
            Histogram::vertical(&chart)
                .style(color.filled())
                .margin(18)
                .data(values.iter().enumerate().map(|(i, v)| (i as i32, *v))),
        )
        .map_err(e)?;
    // The value above each bar, so the chart reads without the table.
    chart
        .draw_series(values.iter().enumerate().map(|(i, v)| {
            let style = ("sans-serif", 13).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Bottom));
            Text::new(format!("{v:.2}"), (SegmentValue::CenterOf(i as i32), *v), style)
        }))
        .map_err(e)?;
    Ok(())
}

fn e(err: impl std::fmt::Display) -> String {
    format!("chart: {err}")
}
