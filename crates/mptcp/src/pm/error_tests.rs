//! Tests of `error.rs`.

use super::*;

#[test]
fn clear_messages() {
    let e = Error::Kernel { op: "add endpoint", errno: libc::EPERM, token: None, detail: None };
    assert!(e.to_string().contains("needs CAP_NET_ADMIN in this network namespace"), "{e}");
    assert!(e.is_permission_denied());
    let e = Error::Kernel {
        op: "create subflow",
        errno: libc::EINVAL,
        token: Some(0xabc),
        detail: Some("invalid token".into()),
    };
    assert!(e.to_string().contains("no MPTCP connection with token 2748"), "{e}");
    let e = Error::Kernel { op: "add endpoint", errno: libc::EEXIST, token: None, detail: Some("duplicate".into()) };
    assert!(e.to_string().starts_with("add endpoint: duplicate"), "{e}");
}

#[test]
fn no_family_says_why() {
    let e = Error::FamilyNotFound { availability: Availability::NotBuilt };
    assert_eq!(e.to_string(), "this kernel has no MPTCP path manager (built without MPTCP)");
    let e = Error::FamilyNotFound { availability: Availability::DisabledBySysctl };
    assert!(e.to_string().contains("does not remove the path manager"), "{e}");
    assert!(e.to_string().contains("5.7"), "{e}");
    let e = Error::FamilyNotFound { availability: Availability::Available };
    assert!(e.to_string().contains("has MPTCP but no `mptcp_pm`"), "{e}");
    let e = Error::FamilyNotFound { availability: Availability::KernelTooOld };
    assert!(e.to_string().contains("predates MPTCP"), "{e}");
    let e = Error::FamilyNotFound { availability: Availability::Error(libc::EACCES) };
    assert!(e.to_string().contains("MPTCP sockets: socket creation failed"), "{e}");
    assert_eq!(e.errno(), None);
}
