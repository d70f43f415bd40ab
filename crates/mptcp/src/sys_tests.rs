//! Tests of `sys.rs`.

use super::*;

#[test]
fn interface_names() {
    // Refused before asking the kernel.
    for bad in ["", "no such if", "a/b", "x\0y", "0123456789abcdef"] {
        assert_eq!(interface_index(bad).unwrap_err().kind(), io::ErrorKind::InvalidInput, "{bad:?}");
    }
    assert_eq!(interface_index("nosuchif0").unwrap_err().kind(), io::ErrorKind::NotFound);
    let lo = interface_index("lo").unwrap();
    assert_eq!(interface_name(lo).as_deref(), Some("lo"));
    assert_eq!(interface_name(0), None);
    assert_eq!(interface_name(u32::MAX), None);
}
