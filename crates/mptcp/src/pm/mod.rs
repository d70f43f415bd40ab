//! The path manager over generic netlink (`mptcp_pm`): endpoints, limits,
//! the userspace path manager and events.
