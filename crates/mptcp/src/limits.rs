//! The path manager's limits: one type for the path manager
//! (`mptcp::pm::Limits`, feature `netlink`) and the doctor's observations
//! (`mptcp::diagnose::Limits`, always there).

/// Path manager limits (`ip mptcp limits`), per network namespace.
///
/// The kernel may gain limits, so the struct is `#[non_exhaustive]`:
/// build one with [`Limits::new`]. With feature `serde`: `Serialize` and
/// `Deserialize` as `{"subflows": .., "add_addr_accepted": ..}` (a missing
/// field reads as 0). With feature `netlink` the path manager adds
/// `Limits::validate`, the check against the kernel's maximum.
///
/// # Examples
///
/// ```
/// let l = mptcp::diagnose::Limits::new(2, 0);
/// assert_eq!((l.subflows, l.add_addr_accepted), (2, 0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(default))]
#[non_exhaustive]
pub struct Limits {
    /// Extra subflows per connection (`subflows`).
    pub subflows: u32,
    /// Peer-announced addresses accepted per connection (`add_addr_accepted`).
    pub add_addr_accepted: u32,
}

impl Limits {
    /// Limits of `subflows` extra subflows and `add_addr_accepted` accepted
    /// announcements per connection.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = mptcp::diagnose::Limits::new(2, 1);
    /// assert_eq!((l.subflows, l.add_addr_accepted), (2, 1));
    /// ```
    pub fn new(subflows: u32, add_addr_accepted: u32) -> Limits {
        Limits { subflows, add_addr_accepted }
    }
}
