//! The timeline drawn as SVG: a row per site (up, down, drained) and a row per answer (coloured by
//! the site answered first), from the first event (or the window's start) to now.
//!
//! Written as text rather than with a plotting crate: it is rectangles, labels and tooltips, and
//! each element carries `data-` attributes the page and its tests read.

use std::fmt::Write;

use crate::answers::{Change, Event, SiteCondition, TimelineSnapshot};

const WIDTH: f64 = 960.0;
const LABEL_WIDTH: f64 = 260.0;
const RIGHT_MARGIN: f64 = 12.0;
const AXIS_HEIGHT: f64 = 26.0;
const ROW_HEIGHT: f64 = 20.0;
const ROW_GAP: f64 = 4.0;
/// Colours of the sites answered first, in the order the sites first appear.
const PALETTE: [&str; 6] = ["#1971c2", "#e8590c", "#2f9e44", "#9c36b5", "#0c8599", "#f08c00"];
/// Shortest range drawn, so a daemon that just started shows bars, not slivers.
const MIN_RANGE_MS: u64 = 60_000;

pub fn render(timeline: &TimelineSnapshot) -> String {
    let rows = rows(&timeline.events);
    let first = timeline.events.iter().map(|e| e.at_ms).min().unwrap_or(timeline.until_ms);
    let end = timeline.until_ms;
    let start = first.max(timeline.since_ms).min(end.saturating_sub(MIN_RANGE_MS));
    let scale = Scale { start, end, left: LABEL_WIDTH, right: WIDTH - RIGHT_MARGIN };
    let height = AXIS_HEIGHT + rows.len() as f64 * (ROW_HEIGHT + ROW_GAP) + ROW_GAP;
    let sites = site_colours(&timeline.events);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" id="timeline" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12" data-start-ms="{start}" data-end-ms="{end}">"#
    );
    axis(&mut out, &scale, height);
    for (i, (subject, events)) in rows.iter().enumerate() {
        let y = AXIS_HEIGHT + i as f64 * (ROW_HEIGHT + ROW_GAP);
        row(&mut out, &scale, y, subject, events, &sites);
    }
    out.push_str("</svg>\n");
    out
}

struct Scale {
    start: u64,
    end: u64,
    left: f64,
    right: f64,
}

impl Scale {
    fn x(&self, ms: u64) -> f64 {
        let span = (self.end - self.start).max(1) as f64;
        self.left + (ms.clamp(self.start, self.end) - self.start) as f64 / span * (self.right - self.left)
    }
}

/// Events grouped by subject: sites first, then answers, each in name order.
fn rows(events: &[Event]) -> Vec<(String, Vec<&Event>)> {
    let mut rows: Vec<(String, Vec<&Event>)> = Vec::new();
    for event in events {
        let subject = event.change.subject();
        match rows.iter_mut().find(|(s, _)| *s == subject) {
            Some((_, list)) => list.push(event),
            None => rows.push((subject, vec![event])),
        }
    }
    rows.sort_by_key(|(subject, events)| (!matches!(events[0].change, Change::Site { .. }), subject.clone()));
    rows
}

fn site_colours(events: &[Event]) -> Vec<String> {
    let mut sites: Vec<String> = Vec::new();
    let mut note = |name: &str| {
        if !sites.iter().any(|s| s == name) {
            sites.push(name.to_string());
        }
    };
    for event in events {
        match &event.change {
            Change::Site { site, .. } => note(site),
            Change::Answer { sites: answered, .. } => answered.iter().for_each(|s| note(s)),
        }
    }
    sites
}

fn colour_of(site: &str, sites: &[String]) -> &'static str {
    let index = sites.iter().position(|s| s == site).unwrap_or(0);
    PALETTE[index % PALETTE.len()]
}

fn axis(out: &mut String, scale: &Scale, height: f64) {
    const TICKS: u64 = 5;
    for i in 0..=TICKS {
        let ms = scale.start + (scale.end - scale.start) * i / TICKS;
        let x = scale.x(ms);
        let anchor = if i == TICKS { "end" } else { "middle" };
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{height}" stroke="#dee2e6"/><text x="{x:.1}" y="14" text-anchor="{anchor}" fill="#495057">{}</text>"##,
            clock(ms),
            top = AXIS_HEIGHT - 6.0,
        );
    }
}

/// "14:03:27" (UTC) of a wall-clock time in milliseconds.
fn clock(ms: u64) -> String {
    let seconds = ms / 1000 % 86_400;
    format!("{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60)
}

fn row(out: &mut String, scale: &Scale, y: f64, subject: &str, events: &[&Event], sites: &[String]) {
    let label_y = y + ROW_HEIGHT * 0.7;
    let _ = write!(
        out,
        r##"<g class="row" data-subject="{subject}"><text x="4" y="{label_y:.1}" fill="#212529">{subject}</text>"##,
        subject = escape(subject),
    );
    for (i, event) in events.iter().enumerate() {
        let until = events.get(i + 1).map_or(scale.end, |next| next.at_ms);
        let (x0, x1) = (scale.x(event.at_ms), scale.x(until));
        if x1 <= x0 && i + 1 < events.len() {
            continue;
        }
        let width = (x1 - x0).max(1.0);
        let (fill, state, text) = look(&event.change, sites);
        let title = format!("{} since {} UTC", describe(&event.change), clock(event.at_ms));
        let _ = write!(
            out,
            r#"<rect x="{x0:.1}" y="{y:.1}" width="{width:.1}" height="{ROW_HEIGHT}" fill="{fill}" data-state="{state}" data-since-ms="{since}"><title>{title}</title></rect>"#,
            state = escape(&state),
            since = event.at_ms,
            title = escape(&title),
        );
        // Text only where it fits (about 7 px per character).
        if !text.is_empty() && width > 7.0 * text.chars().count() as f64 + 8.0 {
            let _ = write!(
                out,
                r##"<text x="{:.1}" y="{label_y:.1}" fill="#fff" pointer-events="none">{}</text>"##,
                x0 + 4.0,
                escape(&text)
            );
        }
    }
    out.push_str("</g>");
}

/// Fill, `data-state` and the text inside the bar.
fn look(change: &Change, sites: &[String]) -> (&'static str, String, String) {
    match change {
        Change::Site { condition, .. } => match condition {
            SiteCondition::Up => ("#2f9e44", "up".into(), "up".into()),
            SiteCondition::Down => ("#e03131", "down".into(), "down".into()),
            SiteCondition::Drained => ("#868e96", "drained".into(), "drained".into()),
        },
        Change::Answer { sites: answered, .. } => match answered.first() {
            Some(first) => {
                let order = answered.iter().map(|s| &**s).collect::<Vec<_>>().join(" › ");
                (colour_of(first, sites), order.clone(), order)
            }
            None => ("#ced4da", "none".into(), "no answer".into()),
        },
    }
}

fn describe(change: &Change) -> String {
    match change {
        Change::Site { site, condition } => format!("site {site} {condition:?}").to_lowercase(),
        Change::Answer { sites, addresses, .. } if !sites.is_empty() => {
            let addresses: Vec<String> = addresses.iter().map(ToString::to_string).collect();
            let order: Vec<&str> = sites.iter().map(|s| &**s).collect();
            format!("{}: {} ({})", change.subject(), order.join(" › "), addresses.join(", "))
        }
        Change::Answer { .. } => format!("{}: no answer", change.subject()),
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answers::Change;

    fn event(at_ms: u64, change: Change) -> Event {
        Event { at_ms, change }
    }

    fn site(name: &str, condition: SiteCondition) -> Change {
        Change::Site { site: name.into(), condition }
    }

    fn answer(sites: &[&str]) -> Change {
        Change::Answer {
            service: "www.example.com.".into(),
            family: "A",
            view: "default".into(),
            sites: sites.iter().map(|&s| s.into()).collect(),
            addresses: vec![],
        }
    }

    #[test]
    fn rows_show_each_state_for_as_long_as_it_held() {
        let timeline = TimelineSnapshot {
            since_ms: 0,
            until_ms: 400_000,
            events: vec![
                event(100_000, site("a", SiteCondition::Up)),
                event(100_000, answer(&["a", "b"])),
                event(300_000, site("a", SiteCondition::Down)),
                event(300_000, answer(&["b"])),
            ],
        };
        let svg = render(&timeline);
        let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
        let rows: Vec<_> = doc.descendants().filter(|n| n.attribute("class") == Some("row")).collect();
        let subjects: Vec<_> = rows.iter().map(|r| r.attribute("data-subject").unwrap()).collect();
        assert_eq!(subjects, ["site a", "www.example.com. A default"], "sites first");
        let bars = |row: &roxmltree::Node| -> Vec<(String, f64)> {
            (row.children().filter(|n| n.has_tag_name("rect")))
                .map(|r| {
                    (r.attribute("data-state").unwrap().to_string(), r.attribute("width").unwrap().parse().unwrap())
                })
                .collect()
        };
        let site_a = bars(&rows[0]);
        assert_eq!(site_a.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(), ["up", "down"]);
        // Up for 200 of the 300 seconds drawn, down for the last 100.
        assert!((site_a[0].1 / site_a[1].1 - 2.0).abs() < 0.01, "{site_a:?}");
        let www = bars(&rows[1]);
        assert_eq!(www.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(), ["a › b", "b"]);
    }

    #[test]
    fn names_are_escaped() {
        let timeline = TimelineSnapshot {
            since_ms: 0,
            until_ms: 100_000,
            events: vec![event(1_000, site("<b>&\"x'", SiteCondition::Drained))],
        };
        let svg = render(&timeline);
        let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
        let row = doc.descendants().find(|n| n.attribute("class") == Some("row")).unwrap();
        assert_eq!(row.attribute("data-subject"), Some("site <b>&\"x'"));
        assert!(!svg.contains("<b>"));
    }

    #[test]
    fn clock_reads_utc_time_of_day() {
        assert_eq!(clock(((13 * 3600 + 4 * 60 + 5) * 1000) + 86_400_000 * 3), "13:04:05");
    }
}
