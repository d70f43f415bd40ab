//! Named sets of paths (`mptcp lab --profile NAME`), each number written
//! down with where it comes from. Delays are one way (half the measured
//! round-trip time); rates are `down/up` (down: server to client); what no
//! source gives is not emulated (no jitter, no loss) or says so.
//!
//! `mptcp lab --profile list` prints them; README.md has the same table.

use std::fmt::Write as _;

use crate::kind::LinkKind;

/// One path of a profile, in the flags' syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfilePath {
    /// What it stands for.
    pub label: &'static str,
    /// The client's interface kind (its default route's metric).
    pub kind: LinkKind,
    /// `DOWN/UP` rate.
    pub rate: &'static str,
    /// One-way delay.
    pub delay: &'static str,
    /// Jitter (standard deviation of the delay).
    pub jitter: &'static str,
    /// Loss model.
    pub loss: &'static str,
    /// Queue bound.
    pub queue: &'static str,
    /// A backup path: the client's endpoint on it is `subflow backup`.
    pub backup: bool,
}

/// A named profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// `--profile NAME`.
    pub name: &'static str,
    /// One line on what it is.
    pub about: &'static str,
    /// Its paths, path 1 first.
    pub paths: &'static [ProfilePath],
    /// Where the numbers come from, one line each.
    pub sources: &'static [&'static str],
}

const OOKLA_FIXED: &str = "fixed broadband: Ookla Speedtest, US, Q2 2021, medians: 115.22 Mbit/s down, 17.18 up, \
                           latency 14 ms (RCR Wireless, 2021-08-04, rcrwireless.com/20210804/carriers/\
                           nice-link-if-you-can-get-it-starlink-outpaces-other-satellite-providers-and-sometimes-\
                           even-fixed-broadband)";
const OPENSIGNAL_LTE: &str = "LTE: Opensignal, USA Mobile Network Experience, Jan 2019: 4G download 17.8-21.1 \
                              Mbit/s, upload 4.6-7.0 Mbit/s, latency 57.8-62.6 ms by operator (telecompetitor.com, \
                              report-average-mobile-download-speeds-exceed-20-mbps-for-verizon-and-t-mobile)";
const METRICS: &str = "route metrics: NetworkManager's defaults, ethernet 100, Wi-Fi 600, modem 700, the next free \
                       one for a second device (src/core/devices/nm-device.c nm_device_get_route_metric_default, \
                       src/core/nm-manager.c nm_manager_device_route_metric_reserve)";
const QUEUE: &str = "queues: 50 ms on every link (the lab's default, tbf's `latency 50ms`), not measured";

const FIXED: ProfilePath = ProfilePath {
    label: "cable broadband",
    kind: LinkKind::Ethernet,
    rate: "115mbit/17mbit",
    delay: "7ms",
    jitter: "0",
    loss: "0",
    queue: "50ms",
    backup: false,
};

/// Every profile, in the order `--profile list` shows them.
pub const PROFILES: &[Profile] = &[
    Profile {
        name: "wifi-lte",
        about: "a phone or laptop on home Wi-Fi (cable broadband) and LTE",
        paths: &[
            ProfilePath { label: "Wi-Fi on cable broadband", kind: LinkKind::Wifi, ..FIXED },
            ProfilePath {
                label: "LTE",
                kind: LinkKind::Wwan,
                rate: "21mbit/7mbit",
                delay: "30ms",
                jitter: "0",
                loss: "0",
                queue: "50ms",
                backup: false,
            },
        ],
        sources: &[OOKLA_FIXED, OPENSIGNAL_LTE, METRICS, QUEUE],
    },
    Profile {
        name: "unequal",
        about: "issue 19's target: a fast short path and a slow, long, lossy one",
        paths: &[
            ProfilePath {
                label: "fast, short",
                kind: LinkKind::Ethernet,
                rate: "50mbit",
                delay: "10ms",
                jitter: "0",
                loss: "0",
                queue: "50ms",
                backup: false,
            },
            ProfilePath {
                label: "slow, long, lossy",
                kind: LinkKind::Wwan,
                rate: "20mbit",
                delay: "60ms",
                jitter: "0",
                loss: "0.5%",
                queue: "50ms",
                backup: false,
            },
        ],
        sources: &[
            "the numbers of issue 19's target (bench/emulation.sh, section mptcp): 50 Mbit/s with 10 ms, 20 Mbit/s \
             with 60 ms and 0.5 % loss, each way",
            METRICS,
            QUEUE,
        ],
    },
    Profile {
        name: "two-isps",
        about: "a host with two wired uplinks: cable broadband and a slower second ISP",
        paths: &[
            FIXED,
            ProfilePath { label: "second ISP at the FCC's broadband benchmark", rate: "25mbit/3mbit", ..FIXED },
        ],
        sources: &[
            OOKLA_FIXED,
            "second ISP: the FCC's 2015 broadband benchmark, 25 Mbit/s down, 3 up (FCC 2015 Broadband Progress \
             Report); its latency is taken equal to the first's (an assumption)",
            METRICS,
            QUEUE,
        ],
    },
    Profile {
        name: "satellite-backup",
        about: "cable broadband with a geostationary satellite link as backup",
        paths: &[
            FIXED,
            ProfilePath {
                label: "geostationary satellite (backup)",
                kind: LinkKind::Ethernet,
                rate: "18mbit/3mbit",
                delay: "315ms",
                jitter: "0",
                loss: "0",
                queue: "50ms",
                backup: true,
            },
        ],
        sources: &[
            OOKLA_FIXED,
            "satellite: Ookla Speedtest, US, Q2 2021, Viasat median 18.13 Mbit/s down, latency 630 ms, upload \
             under 3.5 Mbit/s (same RCR Wireless article)",
            "backup: the satellite's endpoint is `subflow backup` (RFC 8684's B flag): used when the cable path \
             fails",
            METRICS,
            QUEUE,
        ],
    },
    Profile {
        name: "wifi-starlink",
        about: "home Wi-Fi (cable broadband) and a Starlink dish on the Ethernet port",
        paths: &[
            ProfilePath { label: "Wi-Fi on cable broadband", kind: LinkKind::Wifi, ..FIXED },
            ProfilePath {
                label: "Starlink",
                kind: LinkKind::Ethernet,
                rate: "97mbit/14mbit",
                delay: "25ms",
                jitter: "0",
                loss: "ge:1%,2",
                queue: "50ms",
                backup: false,
            },
        ],
        sources: &[
            OOKLA_FIXED,
            "Starlink: Ookla Speedtest, US, Q2 2021, 97.23 Mbit/s down, 13.89 up (same RCR Wireless article); \
             round trip 50 ms median (40-60 interquartile) to European anchors (UCLouvain et al., APNIC blog \
             2022-11-28, fact-checking-starlinks-performance-figures)",
            "Starlink loss: frequent losses around satellite handovers (Mohan et al., IMC 2022, \"A browser-side \
             view of Starlink connectivity\"); about 1 % in the affected seconds of a 1 Mbit/s UDP stream \
             (blog.wirelessmoves.com, 2024-07, analyzing-packet-loss-in-starlink): modelled as 1 % in bursts of 2",
            METRICS,
            QUEUE,
        ],
    },
];

/// The profile named `name`.
///
/// # Examples
///
/// ```
/// let p = mptcp_lab::profiles::find("wifi-lte").unwrap();
/// assert_eq!(p.paths.len(), 2);
/// assert!(mptcp_lab::profiles::find("moon").is_none());
/// ```
pub fn find(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name)
}

/// The names, comma-separated.
pub fn names() -> String {
    PROFILES.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
}

/// Every profile with its numbers and sources, for `--profile list`.
///
/// # Examples
///
/// ```
/// let text = mptcp_lab::profiles::describe();
/// assert!(text.contains("wifi-lte") && text.contains("Opensignal"));
/// ```
pub fn describe() -> String {
    let mut s = String::new();
    for p in PROFILES {
        let _ = writeln!(s, "{}: {}", p.name, p.about);
        for (i, path) in p.paths.iter().enumerate() {
            let _ = writeln!(s, "  path {}: {}", i + 1, one_line(path));
        }
        for src in p.sources {
            let _ = writeln!(s, "  - {src}");
        }
        s.push('\n');
    }
    s.push_str("rates are down/up (down: server to client); delays are one way, in each direction\n");
    s
}

/// The numbers of one path on one line.
fn one_line(p: &ProfilePath) -> String {
    let mut s = format!("{} ({}), rate {}, delay {}", p.label, p.kind.name(), p.rate, p.delay);
    if p.jitter != "0" {
        let _ = write!(s, ", jitter {}", p.jitter);
    }
    if p.loss != "0" {
        let _ = write!(s, ", loss {}", p.loss);
    }
    let _ = write!(s, ", queue {}", p.queue);
    if p.backup {
        s.push_str(", backup");
    }
    s
}

/// One line per profile with its numbers, for `--help`.
pub fn help() -> String {
    let mut s = String::from("Named paths with sourced numbers (`--profile list` shows the sources):");
    for p in PROFILES {
        let paths: Vec<String> = p.paths.iter().map(one_line).collect();
        let _ = write!(s, "\n  {}: {}", p.name, paths.join("; "));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::PathFlags;

    /// Every profile parses (through the flags' parsers) and has sources.
    #[test]
    fn every_profile_is_valid_and_sourced() {
        for p in PROFILES {
            let paths = PathFlags { profile: Some(p.name.into()), ..PathFlags::default() }.paths().unwrap();
            assert_eq!(paths.len(), p.paths.len(), "{}", p.name);
            assert!(paths.len() >= 2, "{}: a profile compares paths", p.name);
            assert!(!p.sources.is_empty() && !p.about.is_empty(), "{}", p.name);
            assert!(describe().contains(p.name) && help().contains(p.name));
        }
        let names: Vec<&str> = PROFILES.iter().map(|p| p.name).collect();
        for want in ["wifi-lte", "two-isps", "satellite-backup", "wifi-starlink"] {
            assert!(names.contains(&want), "{want}");
        }
        let sat = PathFlags { profile: Some("satellite-backup".into()), ..PathFlags::default() }.paths().unwrap();
        assert!(sat[1].backup && !sat[0].backup);
        assert_eq!(sat[1].up.delay, std::time::Duration::from_millis(315));
    }
}
