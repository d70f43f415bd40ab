//! Moving data both ways over a connected pair, for the scenario tests and
//! the status benchmark (included by `#[path]`).

use std::io::{Read, Write};
use std::net::TcpStream;

/// Moves `n` bytes from `c` to `s` and back, checking that they arrive as sent.
pub fn exchange(c: &mut TcpStream, s: &mut TcpStream, n: usize) {
    let data = vec![0x5au8; n];
    let mut buf = vec![0u8; n];
    std::thread::scope(|sc| {
        sc.spawn(|| c.write_all(&data).unwrap());
        s.read_exact(&mut buf).unwrap();
    });
    assert_eq!(buf, data);
    std::thread::scope(|sc| {
        sc.spawn(|| s.write_all(&data).unwrap());
        c.read_exact(&mut buf).unwrap();
    });
    assert_eq!(buf, data);
}
