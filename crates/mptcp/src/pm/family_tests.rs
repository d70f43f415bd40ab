//! Tests of `family.rs`.

use super::*;

#[test]
fn missing_operations_and_events_are_refused_with_a_reason() {
    // A 5.12-5.18 kernel: in-kernel path manager commands 1-7 only.
    let fam = Family { id: 30, events_group: None, ops: Some(0b1111_1110) };
    assert!(fam.check(nl::CMD_GET_ADDR, "list endpoints").is_ok());
    let e = fam.check(nl::CMD_SUBFLOW_CREATE, "create subflow").unwrap_err();
    assert!(matches!(e, Error::NotSupported { .. }));
    assert_eq!(
        e.to_string(),
        "this kernel's MPTCP path manager has no `create subflow` operation (command 10; the userspace path \
         manager came with Linux 5.19)"
    );
    assert!(fam.events().unwrap_err().to_string().contains("no events (no `mptcp_pm_events` multicast group"));
    // No operation list from the controller: nothing refused up front.
    let fam = Family { id: 30, events_group: Some(7), ops: None };
    assert!(fam.check(nl::CMD_SUBFLOW_CREATE, "create subflow").is_ok());
    assert_eq!(fam.events().unwrap(), 7);
}
