//! The kind of interface through which the client reaches a path, shared
//! by the path specs ([`crate::spec`]) and the profiles ([`crate::profiles`]).

use serde::Serialize;

/// The kind of interface through which the client reaches a path: it sets
/// the metric of the client's default route through it, as NetworkManager
/// does (`nm_device_get_route_metric_default` in NetworkManager's
/// src/core/devices/nm-device.c: ethernet 100, Wi-Fi 600, modem 700; a
/// second device whose metric is taken gets the next free one, see
/// `nm_manager_device_route_metric_reserve`).
///
/// # Examples
///
/// ```
/// use mptcp_lab::spec::LinkKind;
/// assert_eq!(LinkKind::Wifi.metric(), 600);
/// assert_eq!("wwan".parse::<LinkKind>(), Ok(LinkKind::Wwan));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    /// Wired (and the Starlink router's Ethernet port): metric 100.
    Ethernet,
    /// Wi-Fi: metric 600.
    Wifi,
    /// Mobile broadband (LTE, 5G modems): metric 700.
    Wwan,
}

impl LinkKind {
    /// NetworkManager's default route metric for this kind.
    pub fn metric(self) -> u32 {
        match self {
            LinkKind::Ethernet => 100,
            LinkKind::Wifi => 600,
            LinkKind::Wwan => 700,
        }
    }

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            LinkKind::Ethernet => "ethernet",
            LinkKind::Wifi => "wifi",
            LinkKind::Wwan => "wwan",
        }
    }
}

impl std::str::FromStr for LinkKind {
    type Err = String;

    fn from_str(s: &str) -> Result<LinkKind, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ethernet" | "eth" => Ok(LinkKind::Ethernet),
            "wifi" | "wi-fi" | "wlan" => Ok(LinkKind::Wifi),
            "wwan" | "lte" | "modem" | "cellular" => Ok(LinkKind::Wwan),
            _ => Err(format!("unknown interface kind {s:?}; expected ethernet, wifi or wwan")),
        }
    }
}
