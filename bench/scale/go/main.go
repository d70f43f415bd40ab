// Go's net as the peer of the scale benchmark: an echo server on a
// ListenConfig with SetMultipathTCP(true) and a load client on a Dialer
// with SetMultipathTCP(true/false), speaking the protocol of
// crates/mptcp/examples/echo_common/mod.rs and printing the same JSON
// reports as echo_server and load_client. Standard library only.
//
//	scale server -listen 0.0.0.0:7000 -connections 10000
//	scale client -connections 10000 -requests 20 -mode half 10.77.0.2:7000
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const header = 9

type counts struct {
	Mptcp    uint64 `json:"mptcp"`
	Fallback uint64 `json:"fallback"`
	Tcp      uint64 `json:"tcp"`
	Unknown  uint64 `json:"unknown"`
}

func (c *counts) add(status string) {
	switch status {
	case "mptcp":
		c.Mptcp++
	case "fallback":
		c.Fallback++
	case "tcp":
		c.Tcp++
	default:
		c.Unknown++
	}
}

func (c *counts) total() uint64 { return c.Mptcp + c.Fallback + c.Tcp + c.Unknown }

type byIntent struct {
	Mptcp counts `json:"mptcp"`
	Tcp   counts `json:"tcp"`
}

func (b *byIntent) add(intent byte, status string) {
	if intent == 'm' {
		b.Mptcp.add(status)
	} else {
		b.Tcp.add(status)
	}
}

func (b *byIntent) wrong() uint64 {
	return b.Mptcp.total() - b.Mptcp.Mptcp + b.Tcp.total() - b.Tcp.Tcp
}

// status is what Go can say about a connection: MultipathTCP() is a bool,
// so a fallen-back MPTCP socket reads as "tcp".
func status(c net.Conn) string {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return "unknown"
	}
	on, err := tc.MultipathTCP()
	if err != nil {
		return "unknown"
	}
	if on {
		return "mptcp"
	}
	return "tcp"
}

func rssKiB() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				v, _ := strconv.ParseUint(f[1], 10, 64)
				return v
			}
		}
	}
	return 0
}

type serverReport struct {
	Impl         string   `json:"impl"`
	Connections  uint64   `json:"connections"`
	Errors       uint64   `json:"errors"`
	FirstError   *string  `json:"first_error"`
	PeakLive     uint64   `json:"peak_live"`
	RssBaseKiB   uint64   `json:"rss_base_kib"`
	RssPeakKiB   uint64   `json:"rss_peak_kib"`
	BytesPerConn float64  `json:"bytes_per_conn"`
	Status       byIntent `json:"status"`
	WrongStatus  uint64   `json:"wrong_status"`
	TimedOut     bool     `json:"timed_out"`
}

func server(args []string) int {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	listen := fs.String("listen", "0.0.0.0:7000", "address to listen on")
	target := fs.Uint64("connections", 0, "stop and report after this many connections have ended (0: run until killed)")
	timeout := fs.Uint64("timeout", 300, "give up after this many seconds")
	fs.Parse(args)

	base := rssKiB()
	var peakRss, live, peakLive, ended atomic.Uint64
	peakRss.Store(base)
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if r := rssKiB(); r > peakRss.Load() {
					peakRss.Store(r)
				}
			}
		}
	}()

	var lc net.ListenConfig
	lc.SetMultipathTCP(true)
	ln, err := lc.Listen(context.Background(), "tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "scale server: cannot listen on %s: %v\n", *listen, err)
		return 2
	}
	fmt.Printf("ready %s\n", ln.Addr())

	var mu sync.Mutex
	rep := serverReport{Impl: "go"}
	fail := func(e error) {
		mu.Lock()
		rep.Errors++
		if rep.FirstError == nil {
			s := e.Error()
			rep.FirstError = &s
		}
		mu.Unlock()
	}
	done := make(chan struct{})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				fail(fmt.Errorf("accept: %w", err))
				time.Sleep(10 * time.Millisecond)
				continue
			}
			n := live.Add(1)
			for {
				p := peakLive.Load()
				if n <= p || peakLive.CompareAndSwap(p, n) {
					break
				}
			}
			go func() {
				intent, st, err := echo(c)
				c.Close()
				mu.Lock()
				if intent != 0 {
					rep.Status.add(intent, st)
				}
				mu.Unlock()
				if err != nil {
					fail(err)
				}
				live.Add(^uint64(0))
				if ended.Add(1) == *target {
					close(done)
				}
			}()
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Duration(*timeout) * time.Second):
		rep.TimedOut = true
	}
	ln.Close()
	close(stop)

	mu.Lock()
	defer mu.Unlock()
	rep.Connections = ended.Load()
	rep.PeakLive = peakLive.Load()
	rep.RssBaseKiB = base
	rep.RssPeakKiB = peakRss.Load()
	if rep.PeakLive > 0 && rep.RssPeakKiB > base {
		rep.BytesPerConn = float64(rep.RssPeakKiB-base) * 1024 / float64(rep.PeakLive)
	}
	rep.WrongStatus = rep.Status.wrong()
	out, _ := json.Marshal(rep)
	fmt.Println(string(out))
	if rep.Errors > 0 || rep.WrongStatus > 0 || rep.TimedOut {
		return 1
	}
	return 0
}

// echo copies everything back until EOF; the first frame's header says
// what the client asked for, and the status is read then.
func echo(c net.Conn) (intent byte, st string, err error) {
	buf := make([]byte, 4096)
	var hdr [header]byte
	have := 0
	for {
		n, rerr := c.Read(buf)
		if n > 0 {
			if have < header {
				have += copy(hdr[have:], buf[:n])
				if have == header {
					intent = hdr[8]
					if intent != 'm' && intent != 't' {
						return 0, "", fmt.Errorf("header byte %#02x names no intent", intent)
					}
					st = status(c)
				}
			}
			if _, werr := c.Write(buf[:n]); werr != nil {
				return intent, st, werr
			}
		}
		if rerr == io.EOF {
			return intent, st, nil
		}
		if rerr != nil {
			return intent, st, rerr
		}
	}
}

type latency struct {
	P50 uint64 `json:"p50"`
	P90 uint64 `json:"p90"`
	P99 uint64 `json:"p99"`
	Max uint64 `json:"max"`
}

type clientReport struct {
	Impl        string   `json:"impl"`
	Mode        string   `json:"mode"`
	Connections uint64   `json:"connections"`
	Requests    uint64   `json:"requests"`
	Size        uint64   `json:"size"`
	Established uint64   `json:"established"`
	Errors      uint64   `json:"errors"`
	FirstError  *string  `json:"first_error"`
	SetupSecs   float64  `json:"setup_secs"`
	Cps         float64  `json:"cps"`
	RequestSecs float64  `json:"request_secs"`
	Verified    uint64   `json:"verified"`
	Rps         float64  `json:"rps"`
	LatencyUs   latency  `json:"latency_us"`
	Status      byIntent `json:"status"`
	WrongStatus uint64   `json:"wrong_status"`
}

func encode(conn, seq uint32, intent byte, buf []byte) {
	binary.LittleEndian.PutUint32(buf[0:], conn)
	binary.LittleEndian.PutUint32(buf[4:], seq)
	buf[8] = intent
	seed := conn*31 + seq*7
	for i := range buf[header:] {
		buf[header+i] = byte(seed+uint32(i)) ^ 0x5a
	}
}

type outcome struct {
	intent    byte
	status    string
	latencies []uint32
	err       error
}

func exchange(c net.Conn, sent, back []byte, conn, seq uint32, intent byte) error {
	encode(conn, seq, intent, sent)
	if _, err := c.Write(sent); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, back); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return fmt.Errorf("the server closed before echoing frame %d", seq)
		}
		return err
	}
	if !bytes.Equal(sent, back) {
		return fmt.Errorf("frame %d came back changed", seq)
	}
	return nil
}

func client(args []string) int {
	fs := flag.NewFlagSet("client", flag.ExitOnError)
	n := fs.Uint("connections", 1000, "connections to open and hold")
	requests := fs.Uint("requests", 10, "timed requests per connection")
	size := fs.Uint("size", 64, "frame size in bytes (at least 16)")
	mode := fs.String("mode", "half", "mptcp, tcp or half")
	concurrency := fs.Uint("concurrency", 256, "connections being set up at once")
	holdMs := fs.Uint("hold-ms", 200, "how long all connections stay open between setup and requests")
	fs.Uint("threads", 0, "ignored (GOMAXPROCS decides)")
	timeout := fs.Uint("timeout", 300, "give up after this many seconds")
	fs.Parse(args)
	if fs.NArg() != 1 || *size < 16 || *n == 0 || *concurrency == 0 || (*mode != "mptcp" && *mode != "tcp" && *mode != "half") {
		fmt.Fprintln(os.Stderr, "usage: scale client [-connections N] [-requests M] [-size S>=16] [-mode mptcp|tcp|half] ADDR")
		return 2
	}
	addr := fs.Arg(0)
	intentOf := func(i uint32) byte {
		if *mode == "mptcp" || (*mode == "half" && i%2 == 0) {
			return 'm'
		}
		return 't'
	}
	time.AfterFunc(time.Duration(*timeout)*time.Second, func() {
		fmt.Fprintf(os.Stderr, "scale client: the load did not finish in %ds\n", *timeout)
		os.Exit(2)
	})

	gate := make(chan struct{}, *concurrency)
	var setUp, finished sync.WaitGroup
	goSignal := make(chan struct{})
	outcomes := make([]outcome, *n)
	start := time.Now()
	for i := uint32(0); i < uint32(*n); i++ {
		setUp.Add(1)
		finished.Add(1)
		go func(id uint32) {
			defer finished.Done()
			o := &outcomes[id]
			o.intent = intentOf(id)
			sent, back := make([]byte, *size), make([]byte, *size)
			gate <- struct{}{}
			d := net.Dialer{Timeout: 10 * time.Second}
			d.SetMultipathTCP(o.intent == 'm')
			c, err := d.Dial("tcp", addr)
			if err == nil {
				err = exchange(c, sent, back, id, 0, o.intent)
				if err != nil {
					c.Close()
					c = nil
				}
			} else {
				err = fmt.Errorf("connect: %w", err)
			}
			<-gate
			if err != nil {
				o.err = err
			} else {
				o.status = status(c)
			}
			setUp.Done()
			<-goSignal
			if c == nil {
				return
			}
			defer c.Close()
			o.latencies = make([]uint32, 0, *requests)
			for seq := uint32(1); seq <= uint32(*requests); seq++ {
				t := time.Now()
				if err := exchange(c, sent, back, id, seq, o.intent); err != nil {
					o.err = err
					return
				}
				o.latencies = append(o.latencies, uint32(time.Since(t).Microseconds()))
			}
		}(i)
	}
	setUp.Wait()
	setupSecs := time.Since(start).Seconds()
	fmt.Fprintln(os.Stderr, "phase setup-done")
	time.Sleep(time.Duration(*holdMs) * time.Millisecond)
	reqStart := time.Now()
	close(goSignal)
	finished.Wait()
	requestSecs := time.Since(reqStart).Seconds()
	fmt.Fprintln(os.Stderr, "phase requests-done")

	rep := clientReport{Impl: "go", Mode: *mode, Connections: uint64(*n), Requests: uint64(*requests),
		Size: uint64(*size), SetupSecs: setupSecs, RequestSecs: requestSecs}
	var all []uint32
	for i := range outcomes {
		o := &outcomes[i]
		st := o.status
		if st == "" {
			st = "unknown"
		} else {
			rep.Established++
		}
		rep.Status.add(o.intent, st)
		if o.err != nil {
			rep.Errors++
			if rep.FirstError == nil {
				s := o.err.Error()
				rep.FirstError = &s
			}
		}
		all = append(all, o.latencies...)
	}
	rep.Cps = float64(rep.Established) / setupSecs
	rep.Verified = uint64(len(all))
	rep.Rps = float64(len(all)) / requestSecs
	if len(all) > 0 {
		sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
		at := func(q float64) uint64 {
			r := int(math.Ceil(q * float64(len(all))))
			if r < 1 {
				r = 1
			}
			if r > len(all) {
				r = len(all)
			}
			return uint64(all[r-1])
		}
		rep.LatencyUs = latency{at(0.50), at(0.90), at(0.99), at(1.0)}
	}
	rep.WrongStatus = rep.Status.wrong()
	out, _ := json.Marshal(rep)
	fmt.Println(string(out))
	if rep.Errors > 0 || rep.WrongStatus > 0 {
		return 1
	}
	return 0
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: scale server|client [flags]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "server":
		os.Exit(server(os.Args[2:]))
	case "client":
		os.Exit(client(os.Args[2:]))
	default:
		fmt.Fprintf(os.Stderr, "scale: unknown command %q: expected server or client\n", os.Args[1])
		os.Exit(2)
	}
}
