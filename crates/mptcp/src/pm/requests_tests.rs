//! Tests of `requests.rs`.

use super::*;

fn kernel(errno: i32) -> Error {
    Error::Kernel { op: "test", errno, token: None, detail: None }
}

fn endpoint_reply(id: u8, addr: [u8; 4]) -> PmMessage {
    let ep = Endpoint::new(IpAddr::from(addr)).with_id(id).with_flags(EndpointFlags::SUBFLOW);
    PmMessage::new(CMD_GET_ADDR, vec![PmAttr::Addr(ep.to_attrs())])
}

fn done<T>(n: Result<Next<T>>) -> Result<T> {
    match n? {
        Next::Done(v) => Ok(v),
        Next::Then(c) => panic!("one more request: {c:?}"),
    }
}

#[test]
fn validation_before_sending() {
    assert!(set_limits(Some(9), None).is_err());
    assert!(set_limits(None, Some(8)).is_ok());
    assert!(set_limits(None, None).is_err());
    assert!(endpoint(0).is_err());
    let ep = Endpoint::new("10.0.0.1".parse().unwrap()).with_port(80).with_flags(EndpointFlags::SUBFLOW);
    assert!(add_endpoint(&ep).is_err());
    let ep = Endpoint::new("0.0.0.0".parse().unwrap());
    assert!(add_endpoint(&ep).is_err());
    assert!(create_subflow(1, LocalAddr::new("10.0.0.1".parse().unwrap()), "[::1]:80".parse().unwrap()).is_err());
    assert!(set_endpoint_flags(EndpointRef::Id(1), EndpointFlags::SIGNAL).is_err());
    assert!(delete_endpoint(EndpointRef::Id(0)).is_err());
    assert!(destroy_subflow(1, "10.0.0.1:0".parse().unwrap(), "10.0.0.2:80".parse().unwrap()).is_err());
}

#[test]
fn requests_carry_what_the_kernel_needs() {
    let c = set_limits(Some(2), None).unwrap();
    assert_eq!((c.op.msg.cmd, c.op.msg.attrs.clone()), (CMD_SET_LIMITS, vec![PmAttr::Subflows(2)]));
    assert_eq!(c.op.expect, Expect::Ack);
    let c = endpoints().unwrap();
    assert_eq!((c.op.msg.cmd, c.op.expect), (CMD_GET_ADDR, Expect::Dump));
    let c = announce(7, &Endpoint::new("10.0.2.1".parse().unwrap()).with_id(5)).unwrap();
    assert_eq!(c.op.token, Some(7));
    let PmAttr::Addr(a) = &c.op.msg.attrs[1] else { panic!("{:?}", c.op.msg) };
    assert!(a.contains(&AddrAttr::Flags(EndpointFlags::SIGNAL.0)), "announce implies signal: {a:?}");
}

#[test]
fn answers_are_decoded() {
    let eps =
        done(endpoints().unwrap().answer(Ok(vec![endpoint_reply(3, [10, 0, 0, 3]), endpoint_reply(1, [10, 0, 0, 1])])));
    assert_eq!(eps.unwrap().iter().map(|e| e.id).collect::<Vec<_>>(), [1, 3], "sorted by id");
    let raw = [8, 0, 2, 0, 1, 0, 0, 0, 8, 0, 3, 0, 2, 0, 0, 0];
    let reply = netlink_packet_core::ParseableParametrized::parse_with_param(
        &raw[..],
        netlink_packet_generic::GenlHeader { cmd: CMD_GET_LIMITS, version: 1 },
    )
    .unwrap();
    let l = done(limits().unwrap().answer(Ok(vec![reply]))).unwrap();
    assert_eq!((l.subflows, l.add_addr_accepted), (2, 1));
    assert!(matches!(done(limits().unwrap().answer(Ok(vec![]))), Err(Error::Io(_))));
}

#[test]
fn missing_endpoints_are_named() {
    for errno in [libc::EINVAL, libc::ENOENT] {
        let r = done(endpoint(4).unwrap().answer(Err(kernel(errno))));
        assert!(matches!(r, Err(Error::NoSuchEndpoint(EndpointRef::Id(4)))), "{r:?}");
        let r = done(delete_endpoint(EndpointRef::Id(4)).unwrap().answer(Err(kernel(errno))));
        assert!(matches!(r, Err(Error::NoSuchEndpoint(EndpointRef::Id(4)))), "{r:?}");
    }
    // An empty answer to GET_ADDR is no endpoint either.
    assert!(matches!(done(endpoint(4).unwrap().answer(Ok(vec![]))), Err(Error::NoSuchEndpoint(_))));
    // set flags: only ENOENT means "no such endpoint"; EPERM stays what it is.
    let r = done(set_endpoint_flags(4.into(), EndpointFlags::BACKUP).unwrap().answer(Err(kernel(libc::ENOENT))));
    assert!(matches!(r, Err(Error::NoSuchEndpoint(EndpointRef::Id(4)))), "{r:?}");
    let r = done(set_endpoint_flags(4.into(), EndpointFlags::BACKUP).unwrap().answer(Err(kernel(libc::EPERM))));
    assert!(r.unwrap_err().is_permission_denied());
}

#[test]
fn initial_subflows_are_named_by_id_0_and_address() {
    let c = close_initial_subflows("10.0.1.1".parse().unwrap()).unwrap();
    let want = vec![AddrAttr::Id(0), AddrAttr::Family(libc::AF_INET as u16), AddrAttr::Addr4([10, 0, 1, 1].into())];
    assert_eq!(c.op.msg, PmMessage::new(CMD_DEL_ADDR, vec![PmAttr::Addr(want)]));
    assert_eq!(c.op.expect, Expect::Ack);
    assert!(matches!(done(c.answer(Ok(vec![]))), Ok(())));
}

#[test]
fn delete_by_address_lists_then_deletes() {
    let a: IpAddr = "10.0.0.3".parse().unwrap();
    let c = delete_endpoint(a.into()).unwrap();
    assert_eq!((c.op.msg.cmd, c.op.expect), (CMD_GET_ADDR, Expect::Dump));
    let next = c.answer(Ok(vec![endpoint_reply(1, [10, 0, 0, 1]), endpoint_reply(3, [10, 0, 0, 3])])).unwrap();
    let Next::Then(del) = next else { panic!("the delete request should follow") };
    assert_eq!(del.op.msg, PmMessage::new(CMD_DEL_ADDR, vec![PmAttr::Addr(vec![AddrAttr::Id(3)])]));
    assert!(matches!(done(del.answer(Ok(vec![]))), Ok(())));
    // An address no endpoint has: nothing is deleted.
    let c = delete_endpoint(IpAddr::from([10, 9, 9, 9]).into()).unwrap();
    let r = c.answer(Ok(vec![endpoint_reply(1, [10, 0, 0, 1])]));
    assert!(matches!(r, Err(Error::NoSuchEndpoint(EndpointRef::Addr(_)))));
}
