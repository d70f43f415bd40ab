//! The reasoning, from observations: recorded in namespaces (the JSON
//! fixtures in `fixtures/`, written by `mptcp doctor --record` in the
//! CLI's namespace suite), and built by hand for what cannot be recorded
//! here (a kernel without MPTCP) or to pin one rule.

use super::*;

fn ip(s: &str) -> std::net::IpAddr {
    s.parse().unwrap()
}

/// A client namespace with two paths (p1 10.0.1.1, p2 10.0.2.1), the
/// kernel path manager with its default limits, and an MPTCP connection
/// from 10.0.1.1 to 10.0.1.2:9000 (token 7) that exchanged data.
fn two_paths() -> Observations {
    let mut obs = Observations::default();
    let h = &mut obs.host;
    h.pm_family = true;
    h.sysctls.insert("enabled".into(), "1".into());
    h.sysctls.insert("path_manager".into(), "kernel".into());
    h.limits = Some(Limits::new(2, 0));
    h.endpoints = Some(vec![]);
    let mut lo = Interface::new(1, "lo", vec![IfAddr::new(ip("127.0.0.1"), 8)]);
    lo.loopback = true;
    h.interfaces = vec![
        lo,
        Interface::new(2, "p1", vec![IfAddr::new(ip("10.0.1.1"), 24)]),
        Interface::new(3, "p2", vec![IfAddr::new(ip("10.0.2.1"), 24)]),
    ];
    h.rp_filter_all = Some(0);
    h.event_listeners = Some(0);
    let c = Client {
        target: "10.0.1.2:9000".into(),
        remote: Some("10.0.1.2:9000".parse().unwrap()),
        local: Some("10.0.1.1:40000".parse().unwrap()),
        sent: 13,
        received: 13,
        acked: Some(true),
        events_seen: true,
        info: Some(Info { token: Some(7), subflows_max: Some(2), add_addr_accepted_max: Some(0), ..Info::default() }),
        subflows: vec![Subflow::new("10.0.1.1:40000", "10.0.1.2:9000", "ESTAB")],
        events: vec![Event::new("created", 7), Event::new("established", 7)],
        counters_read: true,
        counters: [("MPCapableSYNTX".to_string(), 1), ("MPCapableSYNACKRX".to_string(), 1)].into_iter().collect(),
        watched_ms: 1500,
        ..Client::default()
    };
    obs.client = Some(c);
    obs
}

fn with_endpoint(mut obs: Observations) -> Observations {
    obs.host.endpoints = Some(vec![Endpoint::new(1, ip("10.0.2.1"), &["subflow"]).on(3)]);
    obs.host.routes = vec![RouteCheck {
        endpoint: 1,
        src: ip("10.0.2.1"),
        dst: ip("10.0.1.2"),
        dev: Some(3),
        answer: RouteAnswer::via(3),
        unbound: Some(RouteAnswer::via(2)),
    }];
    obs
}

fn client(obs: &mut Observations) -> &mut Client {
    obs.client.as_mut().unwrap()
}

fn errors(obs: &Observations) -> Vec<&'static str> {
    diagnose(obs).error_ids().iter().map(|i| i.name()).collect()
}

#[test]
fn healthy_two_paths_has_no_error() {
    let mut obs = with_endpoint(two_paths());
    let c = client(&mut obs);
    c.subflows.push(Subflow::new("10.0.2.1:40001", "10.0.1.2:9000", "ESTAB"));
    c.events.push(Event { saddr: Some(ip("10.0.2.1")), ..Event::new("sf_established", 7) });
    c.counters.insert("MPJoinSynTx".into(), 1);
    c.counters.insert("MPJoinSynAckRx".into(), 1);
    let r = diagnose(&obs);
    assert!(r.error_ids().is_empty(), "{:#?}", r.findings);
    assert_eq!(r.mptcp, Some(true));
    assert_eq!(r.subflows, Some(SubflowCount { established: 2, possible: 2 }));
    assert!(r.verdict.starts_with("healthy: MPTCP with 2 of 2 possible subflows"), "{}", r.verdict);
}

#[test]
fn single_path_is_healthy() {
    let mut obs = two_paths();
    obs.host.interfaces.pop();
    let r = diagnose(&obs);
    assert!(r.error_ids().is_empty(), "{:#?}", r.findings);
    assert_eq!(r.subflows, Some(SubflowCount { established: 1, possible: 1 }));
    assert!(r.finding(FindingId::SinglePath).is_some());
}

#[test]
fn a_kernel_without_mptcp() {
    let mut obs = Observations::default();
    obs.host.availability = Support::NotBuilt;
    let r = diagnose(&obs);
    assert_eq!(r.error_ids(), [FindingId::MptcpNotBuilt]);
    assert_eq!(r.mode, "host");
    assert!(r.verdict.starts_with("problem: mptcp-not-built: This kernel was built without MPTCP"), "{}", r.verdict);
    // A client on such a host: its connection is TCP, and the host is the cause.
    let mut obs = two_paths();
    obs.host.availability = Support::NotBuilt;
    client(&mut obs).status = ConnStatus::Tcp;
    let r = diagnose(&obs);
    assert_eq!(r.error_ids(), [FindingId::MptcpNotBuilt]);
    assert_eq!(r.mptcp, Some(false));
    for (s, id) in [
        (Support::TooOld, FindingId::MptcpKernelTooOld),
        (Support::Disabled, FindingId::MptcpDisabled),
        (Support::Blocked(libc::EPERM), FindingId::MptcpBlocked),
    ] {
        let mut obs = Observations::default();
        obs.host.availability = s;
        assert_eq!(diagnose(&obs).error_ids(), [id]);
    }
}

#[test]
fn fallbacks_are_told_apart_by_counters() {
    let fallback = |counters: &[(&str, u64)]| {
        let mut obs = two_paths();
        let c = client(&mut obs);
        c.status = ConnStatus::Fallback;
        c.info = None;
        c.events.clear();
        c.counters = counters.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        errors(&obs)
    };
    assert_eq!(fallback(&[("MPCapableSYNTX", 1), ("MPCapableFallbackSYNACK", 1)]), ["no-mptcp-answer"]);
    assert_eq!(
        fallback(&[("MPCapableSYNTX", 1), ("MPCapableSYNTXDrop", 1), ("Blackhole", 1)]),
        ["syn-dropped-fallback"]
    );
    assert_eq!(fallback(&[("MPCapableSYNTX", 0), ("MPCapableSYNTXDisabled", 1)]), ["blackhole"]);
    assert_eq!(
        fallback(&[("MPCapableSYNTX", 1), ("MPCapableSYNACKRX", 1), ("MPCapableDataFallback", 1)]),
        ["late-fallback"]
    );
    assert_eq!(fallback(&[("MPCapableSYNTX", 1)]), ["fallback-unexplained"]);
    // Unreadable counters: the stage is unknown.
    let mut obs = two_paths();
    let c = client(&mut obs);
    c.status = ConnStatus::Fallback;
    c.counters_read = false;
    c.counters.clear();
    let r = diagnose(&obs);
    assert_eq!(r.error_ids(), [FindingId::FallbackUnexplained]);
    assert!(r.findings[0].message.contains("could not be read"), "{}", r.findings[0].message);
}

#[test]
fn noisy_counters_are_said() {
    let mut obs = two_paths();
    let c = client(&mut obs);
    c.status = ConnStatus::Fallback;
    c.counters.insert("MPCapableFallbackSYNACK".into(), 1);
    c.other_activity = true;
    let r = diagnose(&obs);
    assert!(r.findings[0].message.contains("may include theirs"), "{}", r.findings[0].message);
}

#[test]
fn limits_zero_with_an_endpoint() {
    let mut obs = with_endpoint(two_paths());
    obs.host.limits = Some(Limits::new(0, 0));
    client(&mut obs).info.as_mut().unwrap().subflows_max = Some(0);
    let r = diagnose(&obs);
    assert_eq!(r.error_ids(), [FindingId::LimitSubflowsZero]);
    assert_eq!(r.findings[0].fix.as_deref(), Some("ip mptcp limits set subflows 1"));
    assert_eq!(r.subflows, Some(SubflowCount { established: 1, possible: 2 }));
}

#[test]
fn no_endpoint_on_a_two_path_host() {
    let obs = two_paths();
    let r = diagnose(&obs);
    assert_eq!(r.error_ids(), [FindingId::NoSubflowEndpoints]);
    assert_eq!(r.findings[0].fix.as_deref(), Some("ip mptcp endpoint add 10.0.2.1 dev p2 subflow"));
}

#[test]
fn announcements_ignored() {
    let mut obs = two_paths();
    client(&mut obs).events.push(Event {
        daddr: Some(ip("10.0.2.2")),
        remote_id: Some(1),
        ..Event::new("announced", 7)
    });
    let r = diagnose(&obs);
    assert_eq!(r.error_ids(), [FindingId::AddAddrNotAccepted]);
    assert_eq!(r.findings[0].fix.as_deref(), Some("ip mptcp limits set add_addr_accepted 1"));
    // Accepted: the subflow to the announced address is there.
    client(&mut obs).info.as_mut().unwrap().add_addr_accepted_max = Some(1);
    client(&mut obs).subflows.push(Subflow::new("10.0.2.1:40001", "10.0.2.2:9000", "ESTAB"));
    assert!(errors(&obs).is_empty());
}

#[test]
fn endpoint_failures() {
    // The address is gone.
    let mut obs = with_endpoint(two_paths());
    obs.host.interfaces[2].addrs.clear();
    obs.host.routes[0].answer = RouteAnswer::failed(libc::EINVAL);
    client(&mut obs).counters.insert("MPJoinSynTxBindErr".into(), 1);
    assert_eq!(errors(&obs), ["endpoint-address-gone"]);
    // No route from it.
    let mut obs = with_endpoint(two_paths());
    obs.host.routes[0].answer = RouteAnswer::failed(libc::ENETUNREACH);
    let r = diagnose(&obs);
    assert_eq!(r.error_ids(), [FindingId::EndpointNoRoute]);
    assert!(r.findings[0].message.contains("ENETUNREACH (101)"), "{}", r.findings[0].message);
    // IPv6 answers a lookup bound to p2 with a route through p1, which a
    // subflow bound to p2 cannot use.
    let mut obs = with_endpoint(two_paths());
    obs.host.routes[0].answer = RouteAnswer::via(2);
    let r = diagnose(&obs);
    assert_eq!(r.error_ids(), [FindingId::EndpointNoRoute]);
    assert!(r.findings[0].message.contains("a route through p1, not through the endpoint's device"));
    // Nothing explains the missing subflow: said, as a warning.
    let obs = with_endpoint(two_paths());
    let r = diagnose(&obs);
    assert!(r.error_ids().is_empty(), "{:#?}", r.findings);
    assert_eq!(r.findings[0].id, FindingId::SubflowMissing);
    assert!(r.verdict.starts_with("MPTCP with 1 of 2 possible subflows, and no cause found"), "{}", r.verdict);
    // Its interface is down.
    let mut obs = with_endpoint(two_paths());
    obs.host.interfaces[2].up = false;
    assert_eq!(errors(&obs), ["endpoint-interface-down"]);
}

#[test]
fn joins_unanswered_rejected_or_filtered() {
    let joined = |state: &str| {
        let mut obs = with_endpoint(two_paths());
        let c = client(&mut obs);
        c.subflows.push(Subflow::new("10.0.2.1:40001", "10.0.1.2:9000", state));
        c.counters.insert("MPJoinSynTx".into(), 1);
        obs
    };
    assert_eq!(errors(&joined("SYN-SENT")), ["join-unanswered"]);
    // The same with strict rp_filter on p2, whose answers come back there.
    let mut obs = joined("SYN-SENT");
    obs.host.interfaces[2].rp_filter = Some(1);
    client(&mut obs).tcp_counters.insert("IPReversePathFilter".into(), 3);
    let r = diagnose(&obs);
    assert_eq!(r.error_ids(), [FindingId::RpFilter]);
    assert!(r.findings[0].fix.as_deref().unwrap().contains("net.ipv4.conf.p2.rp_filter=2"));
    // Loose rp_filter drops nothing.
    obs.host.interfaces[2].rp_filter = Some(2);
    assert_eq!(errors(&obs), ["join-unanswered"]);
    // No route through p2, and the server did not answer ARP there.
    let mut obs = joined("SYN-SENT");
    client(&mut obs).neighbours.push(Neighbour::new(3, ip("10.0.1.2"), "FAILED"));
    let r = diagnose(&obs);
    assert_eq!(r.error_ids(), [FindingId::JoinUnanswered]);
    assert!(r.findings[0].message.contains("got no answer (neighbour FAILED)"), "{}", r.findings[0].message);
    // It did answer: the link is not the question.
    client(&mut obs).neighbours[0].state = "REACHABLE".into();
    let r = diagnose(&obs);
    assert!(!r.findings[0].message.contains("ARP"), "{}", r.findings[0].message);
    // Established, then closed by the server at once.
    let mut obs = with_endpoint(two_paths());
    let c = client(&mut obs);
    let sf = Event { saddr: Some(ip("10.0.2.1")), daddr: Some(ip("10.0.1.2")), ..Event::new("sf_established", 7) };
    c.events.push(sf.clone());
    c.events.push(Event { kind: "sf_closed".into(), ..sf });
    c.counters.insert("MPJoinSynTx".into(), 1);
    c.counters.insert("MPJoinSynAckRx".into(), 1);
    assert_eq!(errors(&obs), ["join-rejected"]);
    // The server denies joins to its initial address and announced nothing.
    let mut obs = with_endpoint(two_paths());
    client(&mut obs).events[0].flags = Some(1);
    assert_eq!(errors(&obs), ["join-rejected"]);
}

#[test]
fn userspace_path_manager() {
    let mut obs = two_paths();
    obs.host.sysctls.insert("path_manager".into(), "userspace".into());
    assert_eq!(errors(&obs), ["userspace-pm-idle"]);
    obs.client = None;
    assert_eq!(errors(&obs), ["userspace-pm-idle"], "the host alone too");
    // Something listens to the events: not idle.
    obs.host.event_listeners = Some(1);
    assert!(errors(&obs).is_empty());
}

#[test]
fn the_endpoint_maximum() {
    let mut obs = two_paths();
    obs.client = None;
    let addrs: Vec<std::net::IpAddr> = (10..20).map(|i| ip(&format!("10.0.2.{i}"))).collect();
    obs.host.interfaces[2].addrs = addrs.iter().map(|a| IfAddr::new(*a, 24)).collect();
    obs.host.endpoints = Some(
        addrs.iter().take(8).enumerate().map(|(i, a)| Endpoint::new(i as u8 + 1, *a, &["subflow"]).on(3)).collect(),
    );
    let r = diagnose(&obs);
    assert_eq!(r.error_ids(), [FindingId::EndpointLimit]);
    assert_eq!(
        r.findings[0].observed.get("addresses_without_endpoint").unwrap().to_string(),
        "10.0.1.1 (p1), 10.0.2.18 (p2), 10.0.2.19 (p2)"
    );
}

#[test]
fn endpoint_managers() {
    let mut obs = two_paths();
    obs.client = None;
    obs.host.endpoints = Some(vec![Endpoint::new(1, ip("10.0.2.1"), &["subflow"]).on(3)]);
    obs.host.managers = vec![Manager::new(40, "mptcpd")];
    let r = diagnose(&obs);
    assert!(r.error_ids().is_empty(), "one manager alone is a warning: {:#?}", r.findings);
    assert_eq!(r.finding(FindingId::AnotherManager).unwrap().severity, Severity::Warning);
    obs.host.managers.push(Manager::new(41, "mptcp daemon"));
    let r = diagnose(&obs);
    assert_eq!(r.error_ids(), [FindingId::AnotherManager]);
    assert!(r.findings[0].fix.as_deref().unwrap().contains("systemctl disable --now mptcp.service"));
    // Our own daemon alone is no finding; two of it fight like any two.
    obs.host.managers = vec![Manager::new(41, "mptcp daemon")];
    assert!(diagnose(&obs).finding(FindingId::AnotherManager).is_none());
    obs.host.managers.push(Manager::new(42, "mptcp daemon"));
    assert_eq!(diagnose(&obs).error_ids(), [FindingId::AnotherManager]);
}

#[test]
fn server_side() {
    let mut obs = two_paths();
    obs.client = None;
    let mut s = Server { port: 9000, events_seen: true, watched_ms: 2000, ..Server::default() };
    s.accepted.push(Accepted {
        remote: Some("10.0.1.1:40000".parse().unwrap()),
        status: ConnStatus::Mptcp,
        token: Some(9),
        subflows: 1,
    });
    obs.server = Some(s.clone());
    let r = diagnose(&obs);
    assert_eq!(r.mode, "server");
    assert!(r.error_ids().is_empty(), "{:#?}", r.findings);
    assert_eq!(r.mptcp, Some(true));
    s.accepted[0].status = ConnStatus::Tcp;
    obs.server = Some(s.clone());
    assert_eq!(errors(&obs), ["client-no-mptcp"]);
    s.accepted[0].status = ConnStatus::Fallback;
    s.counters.insert("MPCapableFallbackACK".into(), 1);
    obs.server = Some(s.clone());
    assert_eq!(errors(&obs), ["passive-fallback"]);
    s.accepted[0].status = ConnStatus::Mptcp;
    s.counters.insert("MPJoinRejected".into(), 1);
    obs.server = Some(s);
    assert_eq!(errors(&obs), ["join-rejected"]);
}

#[test]
fn nothing_sent_is_said() {
    let mut obs = with_endpoint(two_paths());
    let c = client(&mut obs);
    c.sent = 0;
    c.received = 0;
    let r = diagnose(&obs);
    assert!(r.finding(FindingId::NoDataExchanged).is_some(), "{:#?}", r.findings);
}

#[test]
fn finding_ids_are_stable_kebab_case() {
    for id in FindingId::ALL {
        let n = id.name();
        assert!(n.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{n}");
        assert_eq!(n.parse::<FindingId>(), Ok(*id));
    }
    assert!("Join-Unanswered".parse::<FindingId>().is_err());
}

/// Observations recorded in namespaces by the CLI's suite
/// (crates/mptcp-cli/tests/doctor.rs, `MPTCP_DOCTOR_RECORD=DIR`), one
/// situation each, and the errors they must give: exactly these.
#[cfg(feature = "serde")]
mod recorded {
    use super::*;

    macro_rules! recorded {
        ($($test:ident: $file:literal => [$($id:literal),*];)*) => {
            $(
                #[test]
                fn $test() {
                    let text = include_str!(concat!("../../tests/diagnose/", $file, ".json"));
                    let obs: Observations = serde_json::from_str(text).expect(concat!($file, ".json"));
                    let want: &[&str] = &[$($id),*];
                    assert_eq!(errors(&obs), want, "{}: {:#?}", $file, diagnose(&obs).findings);
                }
            )*

            /// Every cause the issue names has a recording, except the one
            /// this kernel cannot show (`mptcp-not-built`, built by hand above).
            #[test]
            fn every_cause_is_recorded() {
                let recorded: Vec<&str> = vec![$($($id,)*)*];
                for id in [
                    "mptcp-disabled", "no-mptcp-answer", "syn-dropped-fallback", "blackhole",
                    "limit-subflows-zero", "no-subflow-endpoints", "add-addr-not-accepted",
                    "endpoint-address-gone", "endpoint-no-route", "join-unanswered", "join-rejected",
                    "rp-filter", "userspace-pm-idle", "endpoint-limit", "another-manager",
                    "client-no-mptcp", "passive-fallback",
                ] {
                    assert!(recorded.contains(&id), "no recording for {id}");
                }
            }
        };
    }

    recorded! {
        healthy: "healthy" => [];
        join_unanswered_on_link: "join-unanswered-on-link" => ["join-unanswered"];
        mptcp_disabled: "mptcp-disabled" => ["mptcp-disabled"];
        mptcp_disabled_host: "mptcp-disabled-host" => ["mptcp-disabled"];
        no_mptcp_answer: "no-mptcp-answer" => ["no-mptcp-answer"];
        no_mptcp_answer_middlebox: "no-mptcp-answer-middlebox" => ["no-mptcp-answer"];
        syn_dropped_fallback: "syn-dropped-fallback" => ["syn-dropped-fallback"];
        blackhole_first: "blackhole-first" => ["syn-dropped-fallback"];
        blackhole: "blackhole" => ["blackhole"];
        blackhole_host: "blackhole-host" => [];
        blackhole_fixed: "blackhole-fixed" => [];
        limit_subflows_zero: "limit-subflows-zero" => ["limit-subflows-zero"];
        no_subflow_endpoints: "no-subflow-endpoints" => ["no-subflow-endpoints"];
        add_addr_not_accepted: "add-addr-not-accepted" => ["add-addr-not-accepted"];
        add_addr_accepted: "add-addr-accepted" => [];
        endpoint_address_gone: "endpoint-address-gone" => ["endpoint-address-gone"];
        endpoint_address_gone_host: "endpoint-address-gone-host" => ["endpoint-address-gone"];
        endpoint_no_route: "endpoint-no-route" => ["endpoint-no-route"];
        endpoint_no_route_ipv6: "endpoint-no-route-ipv6" => ["endpoint-no-route"];
        endpoint_interface_down: "endpoint-interface-down" => ["endpoint-interface-down"];
        late_fallback: "late-fallback" => ["late-fallback"];
        join_unanswered: "join-unanswered" => ["join-unanswered"];
        join_rejected: "join-rejected" => ["join-rejected"];
        join_rejected_id0: "join-rejected-id0" => ["join-rejected"];
        rp_filter: "rp-filter" => ["rp-filter"];
        userspace_pm_idle: "userspace-pm-idle" => ["userspace-pm-idle"];
        userspace_pm_idle_host: "userspace-pm-idle-host" => ["userspace-pm-idle"];
        endpoint_limit: "endpoint-limit" => ["endpoint-limit"];
        another_manager: "another-manager" => ["another-manager"];
        another_manager_one: "another-manager-one" => [];
        client_no_mptcp: "client-no-mptcp" => ["client-no-mptcp"];
        passive_fallback: "passive-fallback" => ["passive-fallback"];
        listen_healthy: "listen-healthy" => [];
        listen_join_rejected: "listen-join-rejected" => ["join-rejected"];
    }

    /// A recording read back and written again gives the same JSON: the
    /// observation types lose nothing.
    #[test]
    fn recordings_round_trip() {
        let text = include_str!("../../tests/diagnose/join-unanswered.json");
        let obs: Observations = serde_json::from_str(text).unwrap();
        let again: Observations = serde_json::from_str(&serde_json::to_string(&obs).unwrap()).unwrap();
        assert_eq!(obs, again);
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_value(&obs).unwrap(), v);
    }
}
