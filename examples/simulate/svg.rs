//! The chart: a hand-written SVG of every scenario's latency percentiles (the README shows
//! it as docs/simulate.svg).

use core::fmt::Write as _;

use crate::report::{RunResult, ms};
use crate::scenario::Cluster;

/// A hand-written SVG: one panel per scenario, p50 / p99 / p999 bars per strategy on a log
/// scale.
pub(crate) fn svg(panels: &[(&Cluster, &[RunResult])], requests: u64, seed: u64) -> String {
    const COLORS: [(&str, &str); 3] = [("p50", "#4c78a8"), ("p99", "#f58518"), ("p999", "#e45756")];
    let groups = panels.iter().map(|(_, r)| r.len()).max().unwrap_or(1);
    let (left, group_w, bar_w) = (90.0, 66.0, 18.0);
    let (panel_h, plot_h, top_pad) = (380.0, 200.0, 40.0);
    let width = (left + group_w * groups as f64 + 30.0).max(720.0);
    let height = 60.0 + panel_h * panels.len() as f64;
    // log scale from 0.1 ms to the next decade above the largest value
    let max_us = panels
        .iter()
        .flat_map(|(_, rs)| rs.iter().map(|r| r.pct(0.999)))
        .max()
        .unwrap_or(1)
        .max(1);
    let lo = 2.0_f64; // log10(100 us)
    let hi = ((max_us as f64).log10().ceil()).max(lo + 1.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="22" font-size="15" font-weight="bold">tinylb: latency percentiles per strategy ({} requests, seed {}; log scale)</text>"#,
        requests, seed
    );
    for (k, (i, _)) in COLORS.iter().enumerate() {
        let x = 10.0 + 60.0 * k as f64;
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="32" width="12" height="12" fill="{}"/><text x="{}" y="43">{i}</text>"#,
            COLORS[k].1,
            x + 16.0
        );
    }
    for (p, (sc, results)) in panels.iter().enumerate() {
        let y0 = 60.0 + panel_h * p as f64;
        let base = y0 + top_pad + plot_h;
        let y_of = |us: u64| {
            let v = (us.max(1) as f64).log10().clamp(lo, hi);
            base - plot_h * (v - lo) / (hi - lo)
        };
        // a scenario that runs another count than the heading's says so
        let count = if sc.requests == requests {
            String::new()
        } else {
            format!(" ({} requests a run)", sc.requests)
        };
        let _ = writeln!(
            s,
            r#"<text x="10" y="{:.0}" font-size="13" font-weight="bold">{}{count}</text>"#,
            y0 + 20.0,
            xml(sc.scenario.name())
        );
        // decade grid
        let mut d = lo as i32;
        while d as f64 <= hi {
            let us = 10f64.powi(d) as u64;
            let y = y_of(us);
            let label = if us >= 1000 {
                format!("{} ms", us / 1000)
            } else {
                format!("{} ms", us as f64 / 1000.0)
            };
            let _ = writeln!(
                s,
                r##"<line x1="{left}" y1="{y:.1}" x2="{:.0}" y2="{y:.1}" stroke="#ddd"/><text x="{:.0}" y="{:.1}" text-anchor="end">{label}</text>"##,
                width - 20.0,
                left - 6.0,
                y + 4.0
            );
            d += 1;
        }
        for (g, r) in results.iter().enumerate() {
            let gx = left + group_w * g as f64 + 10.0;
            for (k, q) in [0.5, 0.99, 0.999].into_iter().enumerate() {
                let v = r.pct(q);
                let y = y_of(v);
                let x = gx + bar_w * k as f64;
                let _ = writeln!(
                    s,
                    r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {}: {} ms</title></rect>"#,
                    bar_w - 2.0,
                    (base - y).max(0.5),
                    COLORS[k].1,
                    xml(&r.strategy),
                    COLORS[k].0,
                    ms(v)
                );
            }
            let (lx, ly) = (gx + 1.5 * bar_w, base + 12.0);
            let _ = writeln!(
                s,
                r#"<text x="{lx:.1}" y="{ly:.1}" text-anchor="end" font-size="10" transform="rotate(-35 {lx:.1} {ly:.1})">{}</text>"#,
                xml(&r.strategy)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

/// `s` escaped for XML text.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
