//! The report for people: the verdict, what was watched, then each finding
//! with what was observed, what it means and the fix.

use std::io::Write;

use mptcp::diagnose::{Observations, Report};

use super::Connection;

/// Width the paragraphs are wrapped to, unless `COLUMNS` says otherwise.
const WIDTH: usize = 100;

/// Stands for a space that [`wrap`] must not break at (a private-use
/// character: no report contains it).
const KEEP: char = '\u{e000}';

/// `COLUMNS` when set (40 to 200), else [`WIDTH`].
fn width() -> usize {
    std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<usize>().ok()).map_or(WIDTH, |c| c.clamp(40, 200))
}

/// `text` wrapped to [`width`], the first line after `first`, the next
/// ones indented by `indent` spaces.
fn wrap(first: &str, indent: usize, text: &str) -> String {
    wrap_to(width(), first, indent, text)
}

fn wrap_to(width: usize, first: &str, indent: usize, text: &str) -> String {
    let mut out = String::from(first);
    let mut col = first.chars().count();
    let mut line_start = true;
    for word in text.split_whitespace() {
        let w = word.chars().count();
        if !line_start && col + 1 + w > width {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            col = indent;
            line_start = true;
        }
        if !line_start {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += w;
        line_start = false;
    }
    out
}

/// Prints the report.
pub(super) fn print(
    report: &Report,
    obs: &Observations,
    conn: Option<&Connection>,
    notes: &[String],
) -> anyhow::Result<()> {
    let mut out = crate::util::stdout();
    let who = match (&report.target, &obs.server) {
        (Some(t), _) => t.clone(),
        (None, Some(s)) => format!("port {}", s.port),
        (None, None) => "this host".to_string(),
    };
    writeln!(out, "{}", wrap(&format!("{who}: "), 2, &report.verdict))?;
    if let Some(c) = conn {
        let local = c.local.map(|l| l.to_string()).unwrap_or_else(|| "?".into());
        let what = if c.payload.starts_with("HEAD / HTTP/1.1\r\n") { "an HTTP HEAD request" } else { "--send data" };
        let sent = match (c.sent, c.acked) {
            (0, _) => "sent nothing".to_string(),
            (n, Some(true)) => format!("sent {what} ({n} bytes): acknowledged"),
            (n, Some(false)) => format!("sent {what} ({n} bytes): not acknowledged"),
            (n, None) => format!("sent {what} ({n} bytes)"),
        };
        let closed = if c.closed_by_server { ", then the server closed" } else { "" };
        let line = format!(
            "connected {local} -> {}, {sent}, {} bytes came back{closed}; watched {} ms for subflows",
            c.remote, c.received, c.watched_ms
        );
        writeln!(out, "{}", wrap("  ", 2, &line))?;
        for sf in &c.subflows {
            let a = |x: Option<std::net::SocketAddr>| x.map(|x| x.to_string()).unwrap_or_else(|| "?".into());
            writeln!(out, "  subflow {} -> {} {}", a(sf.local), a(sf.remote), sf.state)?;
        }
    }
    if let Some(s) = &obs.server {
        for a in &s.accepted {
            let remote = a.remote.map(|r| r.to_string()).unwrap_or_else(|| "?".into());
            let status = match a.status {
                mptcp::diagnose::ConnStatus::Mptcp => "mptcp",
                mptcp::diagnose::ConnStatus::Fallback => "fallback",
                _ => "tcp",
            };
            writeln!(out, "  accepted {remote}: {status}, {} subflow(s)", a.subflows)?;
        }
    }
    for f in &report.findings {
        writeln!(out)?;
        writeln!(out, "{} {}", f.severity, f.id)?;
        if !f.observed.is_empty() {
            // A name and its value stay on one line.
            let facts: Vec<String> = f.observed.0.iter().map(|(k, v)| format!("{k}{KEEP}{v}")).collect();
            writeln!(out, "{}", wrap("  observed: ", 12, &facts.join(", ")).replace(KEEP, " "))?;
        }
        writeln!(out, "{}", wrap("  meaning:  ", 12, &f.message))?;
        if let Some(fix) = &f.fix {
            // One line: a command stays whole, to be copied.
            writeln!(out, "  fix:      {fix}")?;
        }
    }
    if !notes.is_empty() {
        writeln!(out)?;
        for n in notes {
            writeln!(out, "{}", wrap("note: ", 6, n))?;
        }
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::wrap_to;

    #[test]
    fn paragraphs_wrap_with_an_indent() {
        let text = "word ".repeat(40);
        for width in [super::WIDTH, 60] {
            let w = wrap_to(width, "  meaning:  ", 12, &text);
            assert!(w.lines().all(|l| l.chars().count() <= width), "{w}");
            assert!(w.lines().skip(1).all(|l| l.starts_with(&" ".repeat(12)) && !l[12..].starts_with(' ')), "{w}");
        }
        assert_eq!(wrap_to(100, "x: ", 3, "a b"), "x: a b");
    }
}
