// LAB STAND-IN for traefik/whoami (github.com/traefik/whoami), whose module the Go proxy
// this lab builds from does not serve. It keeps the parts of whoami's contract the
// Terraform module and the lab's checks rely on, nothing more:
//   - HTTP on the port given by --port (default 80), or WHOAMI_PORT_NUMBER;
//   - GET / answers text: "Hostname: <pod>", "IP: <addresses>", "RemoteAddr: <peer>",
//     then the request line and headers, as whoami prints them;
//   - GET /health answers 200, GET /api answers the same facts as JSON;
//   - it stops on SIGTERM (it runs as its container's PID 1).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"sort"
	"strings"
)

func addresses() []string {
	var out []string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipnet, ok := a.(*net.IPNet); ok {
			out = append(out, ipnet.IP.String())
		}
	}
	return out
}

func main() {
	port := flag.String("port", os.Getenv("WHOAMI_PORT_NUMBER"), "port to listen on")
	flag.Parse()
	if *port == "" {
		*port = "80"
	}
	hostname, _ := os.Hostname()
	http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	http.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"hostname": hostname, "ip": addresses(), "remoteAddr": r.RemoteAddr,
			"method": r.Method, "url": r.URL.String(), "host": r.Host, "headers": r.Header,
		})
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		fmt.Fprintf(&b, "Hostname: %s\n", hostname)
		for _, ip := range addresses() {
			fmt.Fprintf(&b, "IP: %s\n", ip)
		}
		fmt.Fprintf(&b, "RemoteAddr: %s\n%s %s %s\nHost: %s\n", r.RemoteAddr, r.Method, r.URL.RequestURI(), r.Proto, r.Host)
		names := make([]string, 0, len(r.Header))
		for k := range r.Header {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(r.Header[k], ", "))
		}
		_, _ = w.Write([]byte(b.String()))
	})
	log.Printf("whoami stand-in listening on :%s", *port)
	// PID 1 in its container: the kernel delivers SIGTERM only to a handler, so stop on it.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	go func() { log.Fatal(http.ListenAndServe(":"+*port, nil)) }()
	<-stop
	log.Print("whoami stand-in stopping")
}
