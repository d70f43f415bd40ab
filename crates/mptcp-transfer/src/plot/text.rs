//! Text measurement for the charts, without a font library: widths are
//! those of DejaVu Sans Bold (the widest of the usual sans-serif fonts, and
//! what `sans-serif` resolves to on most Linux systems), so text measured
//! here fits whatever sans-serif font draws it.

/// Advance widths of DejaVu Sans Bold for ASCII 32..=126, in thousandths
/// of an em (read from the font's `hmtx` table).
const WIDTHS: [u16; 95] = [
    348, 456, 521, 838, 696, 1002, 872, 306, 457, 457, 523, 838, 380, 415, 380, 365, // ' '..'/'
    696, 696, 696, 696, 696, 696, 696, 696, 696, 696, // digits
    400, 400, 838, 838, 838, 580, 1000, // ':'..'@'
    774, 762, 734, 830, 683, 683, 821, 837, 372, 372, 775, 637, 995, 837, 850, 733, 850, 770, 720, 682, 812, 774, 1103,
    771, 724, 725, // 'A'..'Z'
    457, 365, 457, 838, 500, 500, // '['..'`'
    675, 716, 593, 716, 678, 435, 716, 712, 343, 343, 665, 343, 1042, 712, 687, 716, 716, 493, 595, 478, 712, 652, 924,
    645, 652, 582, // 'a'..'z'
    712, 365, 712, 838, // '{'..'~'
];

/// Width of `s` in pixels at font size `px`: at least what any common
/// sans-serif font needs (characters outside ASCII count a full em).
pub fn width(s: &str, px: f64) -> f64 {
    let em: u32 = s
        .chars()
        .map(|c| match c as u32 {
            c @ 32..=126 => u32::from(WIDTHS[(c - 32) as usize]),
            _ => 1000,
        })
        .sum();
    f64::from(em) / 1000.0 * px
}

/// Breaks `s` into lines no wider than `max` pixels at `px`: between words
/// where it can (after a space), inside a word that alone is too wide.
pub fn wrap(s: &str, px: f64, max: f64) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in s.split_inclusive(' ') {
        if width(format!("{line}{word}").trim_end(), px) <= max {
            line.push_str(word);
            continue;
        }
        if !line.trim().is_empty() {
            lines.push(line.trim_end().to_string());
            line = String::new();
        }
        for c in word.chars() {
            if !line.is_empty() && width(format!("{line}{c}").trim_end(), px) > max {
                lines.push(std::mem::take(&mut line));
            }
            line.push(c);
        }
    }
    if !line.trim().is_empty() || lines.is_empty() {
        lines.push(line.trim_end().to_string());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_are_those_of_dejavu_sans_bold() {
        let near = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(near(width("0", 10.0), 6.96));
        assert!(near(width(" ", 1000.0), 348.0));
        assert!(near(width("W", 1000.0), 1103.0));
        assert!(near(width("~", 1000.0), 838.0));
        assert!(near(width("10.0.0.1", 1000.0), 5.0 * 696.0 + 3.0 * 380.0));
        // Outside ASCII: a full em.
        assert!(near(width("é↑", 10.0), 20.0));
        assert_eq!(width("", 12.0), 0.0);
    }

    #[test]
    fn wrapping_keeps_every_line_within_the_width() {
        let label = "[2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:65535 -> [2001:db8:1111:2222:3333:4444:5555:6666]:5201";
        for max in [120.0, 300.0, 500.0, 2000.0] {
            let lines = wrap(label, 11.0, max);
            assert!(lines.iter().all(|l| width(l, 11.0) <= max), "{max}: {lines:?}");
            assert_eq!(lines.concat().replace(' ', ""), label.replace(' ', ""), "nothing lost at {max}");
        }
        assert_eq!(wrap(label, 11.0, 2000.0), vec![label.to_string()]);
        assert_eq!(wrap("", 11.0, 10.0), vec![String::new()]);
    }
}
