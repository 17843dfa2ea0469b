// The Go ends of Gantry's mTLS and AccessPolicy tests: `server` is an xDS-enabled gRPC server (its
// Listener, TLS and RBAC come from Gantry), `client` a proxyless gRPC client driven by JSON commands
// on stdin. Both take their xDS bootstrap from GRPC_XDS_BOOTSTRAP or GRPC_XDS_BOOTSTRAP_CONFIG, and
// their certificates from the bootstrap's file_watcher certificate provider `gantry`.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gantry-mtls-go server -address HOST:PORT | client")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "server":
		runServer(os.Args[2:])
	case "client":
		runClient()
	default:
		fmt.Fprintf(os.Stderr, "unknown mode %q (server or client)\n", os.Args[1])
		os.Exit(2)
	}
}
