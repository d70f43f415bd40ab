# Sourced by run.sh: what each kernel of the matrix is (the package names
# to look for) and has (MPTCP_EXPECT), and the tests it cannot run.
# shellcheck shell=bash
# What each kernel has, written down; the test binaries get it as
# MPTCP_EXPECT (tests/kernels/expect.rs reads it) and the probe (probe.c)
# checks every key it measures independently in each guest. `best`: the
# status mechanism mptcp::host_support() must pick. `curr_estab`: the
# MPTcpExt counter MPCurrEstab (not in 6.1), which the daemon's metrics
# publish as mptcp_netstat_current_established where it exists.
expect_for() {
    # Overrides, e.g. to try another expectation: MPTCP_EXPECT_6_1, MPTCP_EXPECT_sid.
    local over="MPTCP_EXPECT_${1//./_}"
    if [ -n "${!over:-}" ]; then
        echo "${!over}"
        return 0
    fi
    local pm="inet_diag=yes pm=yes pm_userspace=yes pm_events=yes"
    case $1 in
        5.10) echo "bpf_hook=no-mptcp mptcp=not-built tcp_is_mptcp=no full_info=no mptcp_info=no info_len=0 inet_diag=no best=none pm=no pm_userspace=no pm_events=no curr_estab=no" ;;
        6.1) echo "bpf_hook=no-hook mptcp=yes tcp_is_mptcp=no full_info=no mptcp_info=yes info_len=48 best=mptcp-info listener_events=no curr_estab=no $pm" ;;
        6.12) echo "bpf_hook=yes mptcp=yes tcp_is_mptcp=yes full_info=yes mptcp_info=yes info_len=96 best=tcp-is-mptcp curr_estab=yes $pm" ;;
        sid) echo "bpf_hook=yes mptcp=yes tcp_is_mptcp=yes full_info=yes mptcp_info=yes info_len=96 best=tcp-is-mptcp curr_estab=yes $pm" ;;
    esac
}

# The suites kernel $1 runs, out of those asked for ($SUITES), in order.
# Those that move MPTCP traffic or manage its path manager throughout
# (daemon, bench, listener) start at 6.1: on 5.10, built without MPTCP,
# every one of their tests would be a skip.
suites_for() {
    local s out=""
    for s in $SUITES; do
        case "$1:$s" in
            5.10:daemon | 5.10:bench | 5.10:listener) ;;
            *) out="${out:+$out }$s" ;;
        esac
    done
    echo "$out"
}

# Tests a kernel cannot run, per suite (libtest --exact --skip), with why.
# Everything else in the suite runs; a test added later runs everywhere
# until it is listed here.
skips_for() {
    local label=$1 suite=$2
    case $suite in
        run)
            # LD_PRELOAD composition, checked with the host's dynamic sh and
            # cat: the guest's are busybox-static, which ignores LD_PRELOAD.
            # Go programs are built at test time: the guest has no Go
            # toolchain (GODEBUG's effect is kernel-independent; the host
            # runs it).
            echo existing_ld_preload_and_godebug_are_kept report_counts_go_connections_from_the_kernels_view
            ;;
        bench)
            # What these check is the client's, the same on every kernel,
            # and each hangs on the machine's speed, which emulation cuts
            # by far: data flowing within the 1.5 s before the server is
            # killed or stopped (else no byte moved, or the bench request
            # itself went unanswered), 3 to 5 interval lines for -t 4 (the
            # first second passes in the handshake), the server's reset
            # arriving within the 100 ms that `check --send` waits for it
            # (else exit 3). The host runs them (scripts/test.sh).
            echo a_server_killed_mid_transfer_fails_without_a_goodput a_server_that_stops_mid_transfer_times_out \
                interval_lines_on_a_pipe check_send_names_the_step_when_the_server_closes_at_once
            ;;
    esac
    case "$label:$suite" in
        # Built without MPTCP: only the tests that hold on every kernel.
        # Each suite has one written for this case (*_on_this_kernel), plus
        # the probe check, bad-input tests and the kernel-independent ones.
        5.10:scenarios)
            echo mptcp_to_mptcp_ipv4 mptcp_to_mptcp_ipv6 mptcp_client_to_tcp_listener \
                mptcp_client_to_tcp_listener_ipv6 tcp_client_to_mptcp_listener middlebox_strips_syn_ack \
                late_fallback_after_data disabled_by_sysctl_policy closed_port_is_one_attempt \
                tokio_connect_and_status two_paths_info_and_subflows
            ;;
        5.10:pm)
            echo endpoints_and_limits_match_ip_mptcp events_and_conns_of_a_two_path_connection \
                userspace_pm_creates_and_destroys_a_subflow tokio_api_and_event_stream \
                monitor_goes_on_when_events_are_lost event_listener_reports_lost_events_and_goes_on
            ;;
        5.10:cli) echo status_shows_limits_the_kernel_has check_reports_mptcp_fallback_and_refused ;;
        # Its server listens with MPTCP; the other run_bpf tests check what
        # mptcp run says and does on a kernel without it.
        5.10:run_bpf) echo static_go_program_with_multipathtcp_off ;;
        5.10:run)
            echo http_server_and_curl_use_mptcp_on_both_ends plain_tcp_peers_are_reported_as_fallback \
                iperf3_uses_two_subflows_over_two_paths nonblock_cloexec_sockets_threads_and_fork \
                mptcp_disabled_still_works_where_mptcpize_fails udp_unix_and_raw_sockets_are_untouched \
                installed_binary_alone_runs_programs_with_mptcp report_counts_connections_of_processes_that_skip_atexit \
                verbose_log_never_enters_the_programs_socket
            ;;
    esac
}

# apt-cache regexes over package names, in order of preference: the
# unsigned image first (same vmlinuz, no shim), then the signed one. The
# newest name with a download candidate wins.
patterns_for() {
    case $1 in
        5.10) echo '^linux-image-5\.10\.0-[0-9]+-amd64-unsigned$ ^linux-image-5\.10\.0-[0-9]+-amd64$' ;;
        6.1) echo '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$ ^linux-image-6\.1\.0-[0-9]+-amd64$' ;;
        # bookworm-security's +deb12 and trixie's +deb13: the newest.
        6.12) echo '^linux-image-6\.12\.[0-9]+\+deb1[23](\.[0-9]+)?-amd64-unsigned$ ^linux-image-6\.12\.[0-9]+\+deb1[23](\.[0-9]+)?-amd64$' ;;
        # sid's newest (the newest of the whole list: sid leads).
        sid) echo '^linux-image-[0-9]+\.[0-9]+\.[0-9]+\+deb[0-9]+(\.[0-9]+)?-amd64(-unsigned)?$' ;;
    esac
}
