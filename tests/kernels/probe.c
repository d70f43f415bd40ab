/*
 * probe.c: ask the running kernel what it answers for the MPTCP socket options
 * the `mptcp` crate relies on, independently of the crate.
 *
 * Built with `gcc -static -O2 -o probe probe.c` by tests/kernels/run.sh and
 * run inside each qemu guest (and runnable on the host as well). Traffic only
 * goes over loopback (127.0.0.1, port chosen by the kernel).
 *
 * Prints one "PROBE <what>: <answer>" line per question, then a summary line
 *   MPTCP-PROBE: mptcp=yes|not-built|too-old|disabled|error tcp_is_mptcp=yes|no
 *                full_info=yes|no mptcp_info=yes|no info_len=N inet_diag=yes|no
 *                pm=yes|no pm_userspace=yes|no pm_events=yes|no curr_estab=yes|no
 * using the same keys as MPTCP_EXPECT. The path manager is asked through the
 * generic netlink controller (the mptcp_pm family's operations and multicast
 * groups), inet_diag with a dump of MPTCP sockets; curr_estab is whether
 * /proc/net/netstat's MPTcpExt counters include MPCurrEstab. Exit status 0 unless the
 * probe itself could not run (no loopback).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/genetlink.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#define IPPROTO_MPTCP_ 262
#define SOL_MPTCP_ 284
#define MPTCP_INFO_ 1
#define MPTCP_FULL_INFO_ 4
#define TCP_IS_MPTCP_ 43
#define INET_DIAG_REQ_PROTOCOL_ 3
/* mptcp_pm commands: 1-7 endpoints and limits (5.7), 8-11 the userspace PM (5.19). */
#define MPTCP_PM_CMD_ANNOUNCE_ 8
#define MPTCP_PM_CMD_SUBFLOW_DESTROY_ 11

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


/* Walks the attributes in [p, p + len): calls f(type, data, data_len, arg). */
static void attrs(const unsigned char *p, int len, void (*f)(int, const unsigned char *, int, void *), void *arg) {
    while (len >= 4) {
        struct nlattr a;
        memcpy(&a, p, sizeof a);
        if (a.nla_len < 4 || a.nla_len > len)
            return;
        f(a.nla_type & NLA_TYPE_MASK, p + 4, a.nla_len - 4, arg);
        int step = NLA_ALIGN(a.nla_len);
        p += step;
        len -= step;
    }
}

struct family {
    int id;
    int ops[64];
    int nops;
    char groups[256];
};

static void op_attr(int t, const unsigned char *d, int l, void *arg) {
    struct family *f = arg;
    if (t == CTRL_ATTR_OP_ID && l >= 4 && f->nops < 64) {
        uint32_t id;
        memcpy(&id, d, 4);
        f->ops[f->nops++] = (int)id;
    }
}

static void ops_list(int t, const unsigned char *d, int l, void *arg) {
    (void)t;
    attrs(d, l, op_attr, arg);
}

static void group_attr(int t, const unsigned char *d, int l, void *arg) {
    struct family *f = arg;
    if (t == CTRL_ATTR_MCAST_GRP_NAME && l > 0) {
        size_t used = strlen(f->groups);
        snprintf(f->groups + used, sizeof f->groups - used, "%s%.*s", used ? "," : "", l, (const char *)d);
    }
}

static void groups_list(int t, const unsigned char *d, int l, void *arg) {
    (void)t;
    attrs(d, l, group_attr, arg);
}

static void family_attr(int t, const unsigned char *d, int l, void *arg) {
    struct family *f = arg;
    if (t == CTRL_ATTR_FAMILY_ID && l >= 2) {
        uint16_t id;
        memcpy(&id, d, 2);
        f->id = id;
    } else if (t == CTRL_ATTR_OPS) {
        attrs(d, l, ops_list, f);
    } else if (t == CTRL_ATTR_MCAST_GROUPS) {
        attrs(d, l, groups_list, f);
    }
}

/* CTRL_CMD_GETFAMILY "mptcp_pm": fills f; returns 0, or the errno. */
static int pm_family(struct family *f) {
    memset(f, 0, sizeof *f);
    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
    if (s < 0)
        return errno;
    struct {
        struct nlmsghdr n;
        struct genlmsghdr g;
        unsigned char attrs[32];
    } req;
    memset(&req, 0, sizeof req);
    const char name[] = "mptcp_pm";
    struct nlattr a = {.nla_len = NLA_HDRLEN + sizeof name, .nla_type = CTRL_ATTR_FAMILY_NAME};
    memcpy(req.attrs, &a, sizeof a);
    memcpy(req.attrs + NLA_HDRLEN, name, sizeof name);
    req.n.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN + NLA_ALIGN(a.nla_len));
    req.n.nlmsg_type = GENL_ID_CTRL;
    req.n.nlmsg_flags = NLM_F_REQUEST;
    req.n.nlmsg_seq = 1;
    req.g.cmd = CTRL_CMD_GETFAMILY;
    req.g.version = 1;
    if (send(s, &req, req.n.nlmsg_len, 0) < 0) {
        int e = errno;
        close(s);
        return e;
    }
    static unsigned char buf[65536];
    int n = recv(s, buf, sizeof buf, 0);
    int e = n < 0 ? errno : 0;
    close(s);
    if (n < 0)
        return e;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
        if (h->nlmsg_type == NLMSG_ERROR) {
            struct nlmsgerr *err = NLMSG_DATA(h);
            return -err->error;
        }
        if (h->nlmsg_type == GENL_ID_CTRL) {
            const unsigned char *p = (const unsigned char *)NLMSG_DATA(h) + GENL_HDRLEN;
            attrs(p, h->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN), family_attr, f);
        }
    }
    return f->id ? 0 : ENOENT;
}

/* A SOCK_DIAG dump of MPTCP sockets (INET_DIAG_REQ_PROTOCOL 262), all states:
 * returns the number of sockets with local port `port`, or -errno. */
static int diag_count(uint16_t port) {
    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (s < 0)
        return -errno;
    struct {
        struct nlmsghdr n;
        struct inet_diag_req_v2 r;
        struct nlattr a;
        uint32_t proto;
    } req;
    memset(&req, 0, sizeof req);
    req.n.nlmsg_len = sizeof req;
    req.n.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    req.n.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.n.nlmsg_seq = 1;
    req.r.sdiag_family = AF_INET;
    req.r.sdiag_protocol = IPPROTO_MPTCP_ & 0xff;
    req.r.idiag_states = ~0u;
    req.a.nla_len = NLA_HDRLEN + 4;
    req.a.nla_type = INET_DIAG_REQ_PROTOCOL_;
    req.proto = IPPROTO_MPTCP_;
    if (send(s, &req, sizeof req, 0) < 0) {
        int e = errno;
        close(s);
        return -e;
    }
    static unsigned char buf[65536];
    int found = 0;
    for (;;) {
        int n = recv(s, buf, sizeof buf, 0);
        if (n < 0) {
            int e = errno;
            close(s);
            return -e;
        }
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_DONE) {
                /* A dump's error comes in NLMSG_DONE's payload (an int):
                 * ENOENT when no inet_diag handler knows the protocol. */
                int e = 0;
                if (h->nlmsg_len >= NLMSG_LENGTH(sizeof e))
                    memcpy(&e, NLMSG_DATA(h), sizeof e);
                close(s);
                return e < 0 ? e : found;
            }
            if (h->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr *err = NLMSG_DATA(h);
                close(s);
                return err->error;
            }
            struct inet_diag_msg *m = NLMSG_DATA(h);
            if (ntohs(m->id.idiag_sport) == port)
                found++;
        }
    }
}

/* The path manager as the kernel describes it; fills the summary keys. */
static void probe_pm(int *pm, int *userspace, int *events) {
    struct family f;
    int e = pm_family(&f);
    *pm = *userspace = *events = 0;
    if (e) {
        printf("PROBE genetlink family mptcp_pm: %s\n", e == ENOENT ? "ENOENT (no such family)" : err(e));
        return;
    }
    printf("PROBE genetlink family mptcp_pm: id=%d ops=", f.id);
    int have_announce = 0, have_destroy = 0;
    for (int i = 0; i < f.nops; i++) {
        printf("%s%d", i ? "," : "", f.ops[i]);
        have_announce |= f.ops[i] == MPTCP_PM_CMD_ANNOUNCE_;
        have_destroy |= f.ops[i] == MPTCP_PM_CMD_SUBFLOW_DESTROY_;
    }
    printf(" groups=%s\n", f.groups[0] ? f.groups : "-");
    *pm = 1;
    *userspace = have_announce && have_destroy;
    *events = strstr(f.groups, "mptcp_pm_events") != NULL;
}

static const char *availability(int e) {
    switch (e) {
    case EPROTONOSUPPORT: return "not-built";
    case EINVAL: return "too-old";
    case ENOPROTOOPT: return "disabled";
    default: return "error";
    }
}

/* Whether the MPTcpExt header line of /proc/net/netstat names counter `name`. */
static int netstat_has(const char *name) {
    FILE *f = fopen("/proc/net/netstat", "r");
    char *line = NULL;
    size_t cap = 0;
    int found = 0;
    if (!f) {
        printf("PROBE /proc/net/netstat: %s\n", err(errno));
        return 0;
    }
    while (getline(&line, &cap, f) > 0) {
        if (strncmp(line, "MPTcpExt:", 9) != 0)
            continue;
        /* The first MPTcpExt line holds the names, the second the values. */
        for (char *t = strtok(line + 9, " \n"); t; t = strtok(NULL, " \n"))
            found |= strcmp(t, name) == 0;
        break;
    }
    free(line);
    fclose(f);
    printf("PROBE MPTcpExt %s: %s\n", name, found ? "yes" : "no");
    return found;
}

int main(void) {
    struct utsname u;
    if (uname(&u) == 0)
        printf("PROBE kernel: %s %s\n", u.release, u.version);

    int pm, pm_userspace, pm_events;
    probe_pm(&pm, &pm_userspace, &pm_events);
    int curr_estab = netstat_has("MPCurrEstab");
    int tcp = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    int fresh = socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP_);
    if (fresh < 0) {
        int e = errno;
        printf("PROBE socket(MPTCP): %s\n", err(e));
        int yes_is = tcp >= 0 && is_mptcp("on a TCP socket", tcp);
        int d = diag_count(0);
        printf("PROBE inet_diag MPTCP dump: %s\n", d < 0 ? err(-d) : "ok");
        printf("MPTCP-PROBE: mptcp=%s tcp_is_mptcp=%s full_info=no mptcp_info=no info_len=0 inet_diag=%s pm=%s "
               "pm_userspace=%s pm_events=%s curr_estab=%s\n",
               availability(e), yes_is ? "yes" : "no", d >= 0 ? "yes" : "no", pm ? "yes" : "no",
               pm_userspace ? "yes" : "no", pm_events ? "yes" : "no", curr_estab ? "yes" : "no");
        return 0;
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

    int d = diag_count(ntohs(a.sin_port));
    if (d < 0)
        printf("PROBE inet_diag MPTCP dump: %s\n", err(-d));
    else
        printf("PROBE inet_diag MPTCP dump: %d socket(s) on port %u (listener and accepted)\n", d, ntohs(a.sin_port));
    int yes_is = is_mptcp("on a connected MPTCP client", c);
    int len = info("on a connected MPTCP client", c);
    int yes_full = full_info("on a connected MPTCP client", c);
    is_mptcp("on the accepted socket", s);
    info("on the accepted socket", s);

    printf("MPTCP-PROBE: mptcp=yes tcp_is_mptcp=%s full_info=%s mptcp_info=%s info_len=%d inet_diag=%s pm=%s "
           "pm_userspace=%s pm_events=%s curr_estab=%s\n",
           yes_is ? "yes" : "no", yes_full ? "yes" : "no", len > 0 ? "yes" : "no", len > 0 ? len : 0,
           d >= 2 ? "yes" : "no", pm ? "yes" : "no", pm_userspace ? "yes" : "no", pm_events ? "yes" : "no",
           curr_estab ? "yes" : "no");
    close(s);
    close(c);
    close(lfd);
    close(fresh);
    if (tcp >= 0)
        close(tcp);
    return 0;
}
