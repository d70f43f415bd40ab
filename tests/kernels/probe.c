/*
 * probe.c: ask the running kernel what it answers for the MPTCP socket options
 * the `mptcp` crate relies on, independently of the crate.
 *
 * Built with `gcc -static -O2 -o probe probe.c` by tests/kernels/run.sh and
 * run inside each qemu guest (and runnable on the host as well). Traffic only
 * goes over loopback (127.0.0.1, port chosen by the kernel).
 *
 * Prints one "PROBE <what>: <answer>" line per question, then a summary line
 *   MPTCP-PROBE: tcp_is_mptcp=yes|no full_info=yes|no mptcp_info=yes|no info_len=N
 * using the same keys as MPTCP_EXPECT. Exit status 0 unless the probe itself
 * could not run (no MPTCP socket, no loopback).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#define IPPROTO_MPTCP_ 262
#define SOL_MPTCP_ 284
#define MPTCP_INFO_ 1
#define MPTCP_FULL_INFO_ 4
#define TCP_IS_MPTCP_ 43

static const char *err(int e) {
    switch (e) {
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EINVAL: return "EINVAL";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case EFAULT: return "EFAULT";
    default: return strerror(e);
    }
}

/* getsockopt(SOL_TCP, TCP_IS_MPTCP): returns 1 if supported, prints the answer. */
static int is_mptcp(const char *what, int fd) {
    int v = -1;
    socklen_t l = sizeof v;
    if (getsockopt(fd, IPPROTO_TCP, TCP_IS_MPTCP_, &v, &l) == 0) {
        printf("PROBE TCP_IS_MPTCP %s: ok value=%d\n", what, v);
        return 1;
    }
    printf("PROBE TCP_IS_MPTCP %s: %s\n", what, err(errno));
    return 0;
}

/* getsockopt(SOL_MPTCP, MPTCP_INFO) into a large zeroed buffer: returns the length or -1. */
static int info(const char *what, int fd) {
    unsigned char buf[512];
    socklen_t l = sizeof buf;
    memset(buf, 0, sizeof buf);
    if (getsockopt(fd, SOL_MPTCP_, MPTCP_INFO_, buf, &l) == 0) {
        uint32_t flags;
        memcpy(&flags, buf + 8, 4);
        printf("PROBE MPTCP_INFO %s: ok len=%u flags=0x%x\n", what, (unsigned)l, flags);
        return (int)l;
    }
    printf("PROBE MPTCP_INFO %s: %s\n", what, err(errno));
    return -1;
}

/* getsockopt(SOL_MPTCP, MPTCP_FULL_INFO) with a zeroed buffer (40 byte header + mptcp_info). */
static int full_info(const char *what, int fd) {
    unsigned char buf[40 + 512];
    socklen_t l = sizeof buf;
    memset(buf, 0, sizeof buf);
    if (getsockopt(fd, SOL_MPTCP_, MPTCP_FULL_INFO_, buf, &l) == 0) {
        uint32_t h[6];
        memcpy(h, buf, sizeof h);
        printf("PROBE MPTCP_FULL_INFO %s: ok len=%u size_tcpinfo_kernel=%u size_sfinfo_kernel=%u num_subflows=%u\n",
               what, (unsigned)l, h[0], h[2], h[4]);
        return 1;
    }
    printf("PROBE MPTCP_FULL_INFO %s: %s\n", what, err(errno));
    return 0;
}

int main(void) {
    struct utsname u;
    if (uname(&u) == 0)
        printf("PROBE kernel: %s %s\n", u.release, u.version);

    int tcp = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    int fresh = socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP_);
    if (fresh < 0) {
        printf("PROBE socket(MPTCP): %s\n", err(errno));
        printf("MPTCP-PROBE: error=no-mptcp-socket\n");
        return 1;
    }
    printf("PROBE socket(MPTCP): ok\n");
    if (tcp >= 0)
        is_mptcp("on a TCP socket", tcp);
    is_mptcp("on a fresh MPTCP socket", fresh);
    info("on a fresh MPTCP socket", fresh);
    full_info("on a fresh MPTCP socket", fresh);

    /* A connected MPTCP pair over loopback. */
    int lfd = socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP_);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 4) ||
        getsockname(lfd, (struct sockaddr *)&a, &al)) {
        printf("PROBE listen on 127.0.0.1: %s\n", err(errno));
        printf("MPTCP-PROBE: error=no-loopback\n");
        return 1;
    }
    int c = socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP_);
    if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a)) {
        printf("PROBE connect to 127.0.0.1: %s\n", err(errno));
        printf("MPTCP-PROBE: error=no-loopback\n");
        return 1;
    }
    int s = accept(lfd, NULL, NULL);
    char b[5] = "ping";
    if (s < 0 || write(c, b, 4) != 4 || read(s, b, 4) != 4 || write(s, b, 4) != 4 || read(c, b, 4) != 4) {
        printf("PROBE data over loopback: %s\n", err(errno));
        printf("MPTCP-PROBE: error=no-loopback\n");
        return 1;
    }
    int proto = -1;
    socklen_t pl = sizeof proto;
    getsockopt(s, SOL_SOCKET, SO_PROTOCOL, &proto, &pl);
    printf("PROBE SO_PROTOCOL accepted: %d\n", proto);

    int yes_is = is_mptcp("on a connected MPTCP client", c);
    int len = info("on a connected MPTCP client", c);
    int yes_full = full_info("on a connected MPTCP client", c);
    is_mptcp("on the accepted socket", s);
    info("on the accepted socket", s);

    printf("MPTCP-PROBE: tcp_is_mptcp=%s full_info=%s mptcp_info=%s info_len=%d\n",
           yes_is ? "yes" : "no", yes_full ? "yes" : "no", len > 0 ? "yes" : "no", len > 0 ? len : 0);
    close(s);
    close(c);
    close(lfd);
    close(fresh);
    if (tcp >= 0)
        close(tcp);
    return 0;
}
