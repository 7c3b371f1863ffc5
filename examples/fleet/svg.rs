//! The chart: connections per backend and P2C's requests per backend (over the mean), each
//! sorted from the most to the least, one line per mode.

use core::fmt::Write as _;

use crate::fleet::Mode;

const COLORS: [&str; 4] = ["#888888", "#e45756", "#4c78a8", "#54a24b"];

/// One panel: a line per mode through its sorted values.
fn panel(s: &mut String, y0: f64, title: &str, series: &[(Mode, Vec<f64>)], unit: &str) {
    let (left, width, plot_h) = (70.0, 640.0, 220.0);
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.1;
    let base = y0 + 30.0 + plot_h;
    let _ = writeln!(
        s,
        r#"<text x="10" y="{:.0}" font-size="13" font-weight="bold">{title}</text>"#,
        y0 + 18.0
    );
    for t in 0..=4 {
        let v = max * t as f64 / 4.0;
        let y = base - plot_h * t as f64 / 4.0;
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{y:.1}" x2="{:.0}" y2="{y:.1}" stroke="#ddd"/><text x="{:.0}" y="{:.1}" text-anchor="end">{v:.2}{unit}</text>"##,
            left + width,
            left - 6.0,
            y + 4.0
        );
    }
    for (k, (mode, values)) in series.iter().enumerate() {
        let mut v = values.clone();
        v.sort_by(|a, b| b.total_cmp(a));
        let n = v.len().max(2) as f64 - 1.0;
        let pts: Vec<String> = v
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                format!(
                    "{:.1},{:.1}",
                    left + width * i as f64 / n,
                    base - plot_h * x / max
                )
            })
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"><title>{}</title></polyline>"#,
            COLORS[k % COLORS.len()],
            pts.join(" "),
            mode.name()
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.0}" y="{:.0}" text-anchor="middle">backends, most to least</text>"#,
        left + width / 2.0,
        base + 18.0
    );
}

/// The whole chart.
pub(crate) fn chart(conns: &[(Mode, Vec<f64>)], p2c: &[(Mode, Vec<f64>)], what: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="740" height="640" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="22" font-size="15" font-weight="bold">tinylb fleet: {what}</text>"#
    );
    for (k, (mode, _)) in conns.iter().enumerate() {
        let x = 10.0 + 120.0 * k as f64;
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="32" width="12" height="12" fill="{}"/><text x="{}" y="43">{}</text>"#,
            COLORS[k % COLORS.len()],
            x + 16.0,
            mode.name()
        );
    }
    // the full mesh's P connections would flatten the subsets' lines: left out of panel 1
    let subsets: Vec<(Mode, Vec<f64>)> = conns
        .iter()
        .filter(|(m, _)| *m != Mode::FullMesh)
        .cloned()
        .collect();
    let mut shifted = vec![(Mode::FullMesh, vec![])];
    shifted.extend(subsets);
    panel(
        &mut s,
        55.0,
        "Proxies connected to each backend (subsets; a full mesh connects every proxy)",
        &shifted,
        "",
    );
    panel(
        &mut s,
        340.0,
        "Requests per backend with P2C inside the subset, over the mean",
        p2c,
        "x",
    );
    s.push_str("</svg>\n");
    s
}
