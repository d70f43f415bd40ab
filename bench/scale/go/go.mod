module mptcp.bench/scale

go 1.21
