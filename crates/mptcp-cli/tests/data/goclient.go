package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
)

func main() {
	c, err := net.Dial("tcp", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintf(c, "%s\n", os.Args[2])
	line, _ := bufio.NewReader(c).ReadString('\n')
	fmt.Println(os.Args[2], line[:len(line)-1])
}
