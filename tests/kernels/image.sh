# Sourced by run.sh: the initramfs, a shared part (busybox, the real tools,
# the programs the suites run, the test binaries) and one per kernel (its
# modules and what to expect), concatenated.
# shellcheck shell=bash
# ---------------------------------------------------------------- initramfs
# Copies ELF file $1 (and the shared libraries it needs) to the same path under $ROOT.
copy_elf() {
    local f=$1 lib
    mkdir -p "$ROOT$(dirname "$f")"
    [ -e "$ROOT$f" ] || cp -L "$f" "$ROOT$f"
    while read -r lib; do
        [ -e "$ROOT$lib" ] && continue
        mkdir -p "$ROOT$(dirname "$lib")"
        cp -L "$lib" "$ROOT$lib"
    done < <(ldd "$f" 2>/dev/null | grep -oE '/[^ ]+' || true)
}

# Copies a binary with its debug info stripped (smaller image, faster unpacking).
copy_stripped() {
    local f=$1
    mkdir -p "$ROOT$(dirname "$f")"
    strip --strip-debug -o "$ROOT$f" "$f"
    copy_elf "$f"
}

# The part of the initramfs shared by every kernel: busybox, the real tools,
# the programs the suites run, the test binaries. Built once per run.
build_common() {
    ROOT=$WORK/root
    rm -rf "$ROOT"
    mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,run,tmp,root,suite,modules,lib64,var}
    ln -s /run "$ROOT/var/run"
    ln -s /run/lock "$ROOT/var/lock"

    cp "$BUSYBOX" "$ROOT/bin/busybox"
    local a
    for a in $("$BUSYBOX" --list); do
        [ -e "$ROOT/bin/$a" ] || ln -s busybox "$ROOT/bin/$a"
    done

    # The real tools (iproute2, iptables, procps, util-linux) shadow
    # busybox's applets via PATH.
    local t v
    for t in ip tc ss sysctl setpriv; do
        copy_elf "$(readlink -f "$(command -v "$t")")"
    done
    # Debian puts ip in /bin (usrmerge: /usr/bin) and tc in /sbin: expose all in /usr/sbin.
    for t in ip tc ss sysctl setpriv; do
        [ -e "$ROOT/usr/sbin/$t" ] || ln -s "$(readlink -f "$(command -v "$t")")" "$ROOT/usr/sbin/$t"
    done
    copy_elf /usr/sbin/xtables-nft-multi
    copy_elf /usr/sbin/xtables-legacy-multi
    for t in iptables ip6tables; do
        for v in "" -save -restore; do
            ln -sf xtables-nft-multi "$ROOT/usr/sbin/$t-nft$v"
            ln -sf xtables-legacy-multi "$ROOT/usr/sbin/$t-legacy$v"
            # Same backend as Debian's default alternative (and the dev machines).
            ln -sf xtables-nft-multi "$ROOT/usr/sbin/$t$v"
        done
    done
    [ ! -x /usr/sbin/nft ] || copy_elf /usr/sbin/nft
    local so
    for so in /usr/lib/x86_64-linux-gnu/xtables/*.so /usr/lib/x86_64-linux-gnu/tc/*.so; do
        [ -e "$so" ] && copy_elf "$so"
    done
    [ ! -d /usr/lib/x86_64-linux-gnu/tc ] || cp -a /usr/lib/x86_64-linux-gnu/tc/. "$ROOT/usr/lib/x86_64-linux-gnu/tc/"
    copy_elf /lib64/ld-linux-x86-64.so.2

    # Programs nobody here wrote, for `mptcp run` (the run suite): python3
    # (http.server and small scripts), curl, iperf3, mptcpize. Dynamically
    # linked, as LD_PRELOAD needs. The bench suite's foreign servers are
    # python3 too.
    case " $SUITES " in *" run "* | *" run_bpf "* | *" bench "*) guest_programs ;; esac
    # strace, with which the daemon suite kills or slows the daemon at
    # chosen system calls.
    case " $SUITES " in *" daemon "*) copy_elf "$(readlink -f "$(command -v strace)")" ;; esac
    [ -z "${GOCLIENT:-}" ] || cp "$GOCLIENT" "$ROOT/suite/goclient"

    cp /etc/protocols /etc/services "$ROOT/etc/" 2>/dev/null || true
    [ ! -d /etc/iproute2 ] || cp -a /etc/iproute2 "$ROOT/etc/"
    printf 'root:x:0:0:root:/root:/bin/sh\n' > "$ROOT/etc/passwd"
    printf 'root:x:0:\n' > "$ROOT/etc/group"
    printf 'passwd: files\ngroup: files\nhosts: files\nprotocols: files\nservices: files\n' > "$ROOT/etc/nsswitch.conf"
    printf '127.0.0.1 localhost\n::1 localhost\n' > "$ROOT/etc/hosts"

    cp "$WORK/probe" "$ROOT/suite/probe"
    local pair name exe
    for pair in "${SUITE_BINS[@]}"; do
        name=${pair%%=*}
        exe=${pair#*=}
        strip --strip-debug -o "$ROOT/suite/$name" "$exe"
        copy_elf "$exe"
        rm -f "$ROOT$exe"
    done
    [ -z "$MPTCP_EXE" ] || copy_stripped "$MPTCP_EXE"
    [ -z "$PRELOAD_SO" ] || copy_stripped "$PRELOAD_SO"
    install -m 0755 "$HERE/init.sh" "$ROOT/init"

    (cd "$ROOT" && find . -print0 | cpio --null -o -H newc --quiet | zstd -q -3 -T0) > "$WORK/common.cpio.zst"
    rm -rf "$ROOT"
    log "initramfs, shared part: $(du -h "$WORK/common.cpio.zst" | cut -f1)"
}

guest_programs() {
    local py pylib f
    py=$(readlink -f /usr/bin/python3)
    pylib=/usr/lib/$(basename "$py")
    [ -d "$pylib" ] || die "no $pylib for $py"
    copy_elf "$py"
    ln -sf "$(basename "$py")" "$ROOT/usr/bin/python3"
    # The standard library without what no test imports (tests, GUI, the
    # static library for embedding, packaging tools).
    tar -C / -cf - --exclude='*/test' --exclude='*/tests' --exclude='*/idlelib' --exclude='*/tkinter' \
        --exclude='*/turtledemo' --exclude='*/lib2to3' --exclude='*/ensurepip' --exclude='*/pydoc_data' \
        --exclude='*/distutils' --exclude='*/config-*' --exclude='*/site-packages' --exclude='*/dist-packages' \
        "${pylib#/}" | tar -C "$ROOT" -xf -
    for f in "$pylib"/lib-dynload/*.so; do copy_elf "$f"; done
    for f in curl iperf3 mptcpize; do copy_elf "$(readlink -f "$(command -v "$f")")"; done
    # mptcpize's LD_PRELOAD library, at the path it names.
    for f in /usr/lib/x86_64-linux-gnu/mptcpize/*.so*; do
        [ -e "$f" ] && copy_elf "$f"
        [ ! -L "$f" ] || cp -a "$f" "$ROOT$f"
    done
    # A zlib to preload, as the preload tests name it.
    [ ! -e /usr/lib/x86_64-linux-gnu/libz.so.1 ] || copy_elf /usr/lib/x86_64-linux-gnu/libz.so.1
}

# The per-kernel part: its modules and what to expect. Sets INITRD.
build_kernel_part() {
    local label=$1 kdir=$CACHE/kernels/$1 r=$WORK/$1/root s skip args
    rm -rf "$r"
    mkdir -p "$r/modules" "$r/etc"
    cp "$kdir/modules/"*.ko "$r/modules/" 2>/dev/null || true
    cp "$kdir/modules/order" "$r/modules/order"
    {
        printf 'KERNEL_LABEL=%s\n' "$label"
        printf 'MPTCP_EXPECT="%s"\n' "$(expect_for "$label")"
        # The suites this kernel runs (all were built: SUITE_BINS).
        printf 'SUITES="%s"\n' "$(suites_for "$label")"
        for s in $(suites_for "$label"); do
            args="--exact"
            for skip in $(skips_for "$label" "$s"); do args="$args --skip $skip"; done
            printf 'ARGS_%s="%s"\n' "$s" "$args"
        done
    } > "$r/etc/mptcp-kernel.env"
    (cd "$r" && find . -print0 | cpio --null -o -H newc --quiet | zstd -q -3) > "$WORK/$label/kernel.cpio.zst"
    rm -rf "$r"
    # Concatenated archives: the kernel unpacks one after the other.
    cat "$WORK/common.cpio.zst" "$WORK/$label/kernel.cpio.zst" > "$WORK/$label/initrd"
}
