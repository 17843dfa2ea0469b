package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	xdscreds "google.golang.org/grpc/credentials/xds"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/xds"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// identityService answers Whoami with the caller's SPIFFE ID, read from the certificate the TLS
// handshake verified ("" over plaintext). Declared by hand: it needs no generated code.
var identityService = grpc.ServiceDesc{
	ServiceName: "gantry.interop.v1.Identity",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Whoami",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			if err := dec(new(emptypb.Empty)); err != nil {
				return nil, err
			}
			answer := func(ctx context.Context, _ any) (any, error) { return wrapperspb.String(callerIdentity(ctx)), nil }
			if interceptor == nil {
				return answer(ctx, nil)
			}
			info := &grpc.UnaryServerInfo{Server: srv, FullMethod: "/gantry.interop.v1.Identity/Whoami"}
			return interceptor(ctx, nil, info, answer)
		},
	}},
	Metadata: "gantry-mtls-go",
}

func callerIdentity(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ""
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return ""
	}
	if info.SPIFFEID != nil {
		return info.SPIFFEID.String()
	}
	// The handshake required and verified the client's certificate when there is one.
	if certs := info.State.PeerCertificates; len(certs) > 0 {
		for _, uri := range certs[0].URIs {
			if uri.Scheme == "spiffe" {
				return uri.String()
			}
		}
	}
	return ""
}

// runServer serves health Check and Whoami on -address with xDS server credentials: TLS as the
// Listener's DownstreamTlsContext says, plaintext when it says none. It prints one JSON line per
// serving-mode change, so the test knows when the server took its Listener.
func runServer(args []string) {
	flags := flag.NewFlagSet("server", flag.ExitOnError)
	address := flags.String("address", "127.0.0.1:0", "where to listen; the Listener resource is named after it")
	_ = flags.Parse(args)
	creds, err := xdscreds.NewServerCredentials(xdscreds.ServerOptions{FallbackCreds: insecure.NewCredentials()})
	if err != nil {
		fmt.Fprintf(os.Stderr, "server credentials: %v\n", err)
		os.Exit(1)
	}
	var mu sync.Mutex
	out := json.NewEncoder(os.Stdout)
	emit := func(event map[string]string) {
		mu.Lock()
		defer mu.Unlock()
		_ = out.Encode(event)
	}
	server, err := xds.NewGRPCServer(grpc.Creds(creds), xds.ServingModeCallback(func(addr net.Addr, change xds.ServingModeChangeArgs) {
		event := map[string]string{"event": "mode", "address": addr.String(), "mode": change.Mode.String()}
		if change.Err != nil {
			event["error"] = change.Err.Error()
		}
		emit(event)
	}))
	if err != nil {
		fmt.Fprintf(os.Stderr, "xds server: %v\n", err)
		os.Exit(1)
	}
	healthpb.RegisterHealthServer(server, health.NewServer())
	server.RegisterService(&identityService, struct{}{})
	lis, err := net.Listen("tcp", *address)
	if err != nil {
		fmt.Fprintf(os.Stderr, "listen: %v\n", err)
		os.Exit(1)
	}
	emit(map[string]string{"event": "listening", "address": lis.Addr().String()})
	if err := server.Serve(lis); err != nil {
		fmt.Fprintf(os.Stderr, "serve: %v\n", err)
		os.Exit(1)
	}
}
