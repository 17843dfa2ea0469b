// The client side of bench/xds-propagation: N proxyless Go gRPC xDS clients, each with its own xDS client
// (its own node id and ADS stream, as N processes would have), each with a channel to every one of T
// targets, and two backends that say who they are in a "backend" response header.
//
// It prints {"a":PORT,"b":PORT} (the backends), then reads one JSON command per line on stdin:
//
//	{"op":"start"}                          make the clients and channels; answer once every channel has
//	                                        made a call: {"ready":true,"ms":...}
//	{"op":"measure","target":T,"expect":B}  from now, call T on every client until backend B answers:
//	                                        every -poll, and every -poll-after-dial once the client's
//	                                        channel to T dialed B (no call reaches B before that dial, so
//	                                        this only spares the calls that cannot succeed yet); answer
//	                                        {"ms":[per client, -1 if not within -deadline], "dialMs":[...]}
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/xds"
)

var (
	xdsAddr       = flag.String("xds", "127.0.0.1:18000", "the xDS server")
	clients       = flag.Int("clients", 100, "xDS clients, each with its own node id and ADS stream")
	targets       = flag.Int("targets", 20, "targets t0.bench … each client has a channel to")
	poll          = flag.Duration("poll", 5*time.Millisecond, "how often each client calls while measuring, until its channel dials the expected backend")
	pollAfterDial = flag.Duration("poll-after-dial", 5*time.Millisecond, "how often each client calls once its channel dialed the expected backend")
	deadline      = flag.Duration("deadline", 10*time.Second, "how long a measurement waits for a client")
)

type command struct {
	Op     string `json:"op"`
	Target string `json:"target"`
	Expect string `json:"expect"`
}

func backend(name string) int {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	server := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		_ = grpc.SetHeader(ctx, metadata.Pairs("backend", name))
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(server, health.NewServer())
	go func() { _ = server.Serve(lis) }()
	return lis.Addr().(*net.TCPAddr).Port
}

func bootstrap(i int) []byte {
	config := map[string]any{
		"xds_servers": []any{map[string]any{
			"server_uri":      *xdsAddr,
			"channel_creds":   []any{map[string]any{"type": "insecure"}},
			"server_features": []any{"xds_v3"},
		}},
		"node": map[string]any{
			"id":       fmt.Sprintf("bench-%d", i),
			"cluster":  "bench",
			"metadata": map[string]any{"labels": map[string]any{"app": "bench"}},
		},
	}
	out, _ := json.Marshal(config)
	return out
}

// Each channel's last dial of each backend address, for the measure answer.
type dialKey struct {
	client, target int
	addr           string
}

var (
	ports   map[string]string
	dialsMu sync.Mutex
	dials   = map[dialKey]time.Time{}
)

// dialSignals wakes a measuring client when its channel dials: one buffered slot, never blocking the dial.
var dialSignals = map[dialKey]chan struct{}{}

func dialSignal(key dialKey) chan struct{} {
	dialsMu.Lock()
	defer dialsMu.Unlock()
	signal, ok := dialSignals[key]
	if !ok {
		signal = make(chan struct{}, 1)
		dialSignals[key] = signal
	}
	return signal
}

func dialedSince(key dialKey, since time.Time) bool {
	dialsMu.Lock()
	defer dialsMu.Unlock()
	at, ok := dials[key]
	return ok && at.After(since)
}

func dialer(client, target int) func(context.Context, string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		key := dialKey{client, target, addr}
		dialsMu.Lock()
		dials[key] = time.Now()
		dialsMu.Unlock()
		select {
		case dialSignal(key) <- struct{}{}:
		default:
		}
		return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
}

// backendOf makes one call and returns the backend that answered, or "" on an error.
func backendOf(conn *grpc.ClientConn) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var header metadata.MD
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&header)); err != nil {
		return ""
	}
	if names := header.Get("backend"); len(names) > 0 {
		return names[0]
	}
	return ""
}

func main() {
	flag.Parse()
	out := json.NewEncoder(os.Stdout)
	ports = map[string]string{}
	a, b := backend("a"), backend("b")
	ports["a"], ports["b"] = fmt.Sprintf("127.0.0.1:%d", a), fmt.Sprintf("127.0.0.1:%d", b)
	_ = out.Encode(map[string]int{"a": a, "b": b})
	// conns[client][target]
	var conns [][]*grpc.ClientConn
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var cmd command
		if err := json.Unmarshal(in.Bytes(), &cmd); err != nil {
			fmt.Fprintf(os.Stderr, "bad command: %v\n", err)
			os.Exit(2)
		}
		switch cmd.Op {
		case "start":
			began := time.Now()
			conns = make([][]*grpc.ClientConn, *clients)
			var wg sync.WaitGroup
			for i := range *clients {
				builder, err := xds.NewXDSResolverWithConfigForTesting(bootstrap(i))
				if err != nil {
					panic(err)
				}
				conns[i] = make([]*grpc.ClientConn, *targets)
				for t := range *targets {
					conn, err := grpc.NewClient(fmt.Sprintf("xds:///t%d.bench", t),
						grpc.WithTransportCredentials(insecure.NewCredentials()),
						grpc.WithContextDialer(dialer(i, t)),
						grpc.WithResolvers([]resolver.Builder{builder}...))
					if err != nil {
						panic(err)
					}
					conns[i][t] = conn
					wg.Add(1)
					go func() {
						defer wg.Done()
						for start := time.Now(); time.Since(start) < 150*time.Second; time.Sleep(20 * time.Millisecond) {
							if backendOf(conn) != "" {
								return
							}
						}
						fmt.Fprintf(os.Stderr, "client %d target %d never answered\n", i, t)
						os.Exit(1)
					}()
				}
			}
			wg.Wait()
			_ = out.Encode(map[string]any{"ready": true, "ms": time.Since(began).Milliseconds()})
		case "measure":
			var target int
			if _, err := fmt.Sscanf(cmd.Target, "t%d.bench", &target); err != nil || target >= *targets {
				fmt.Fprintf(os.Stderr, "bad target %q\n", cmd.Target)
				os.Exit(2)
			}
			began := time.Now()
			ms := make([]float64, len(conns))
			var wg sync.WaitGroup
			for i := range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ms[i] = -1
					key := dialKey{i, target, ports[cmd.Expect]}
					for time.Since(began) < *deadline {
						if backendOf(conns[i][target]) == cmd.Expect {
							ms[i] = float64(time.Since(began).Microseconds()) / 1000
							return
						}
						if dialedSince(key, began) {
							time.Sleep(*pollAfterDial)
							continue
						}
						select {
						case <-dialSignal(key):
						case <-time.After(*poll):
						}
					}
				}()
			}
			wg.Wait()
			// When each channel began dialing the expected backend (ms after began, -1 if it did not): where
			// the Go client's own work (route, cluster and endpoints applied) ends and connecting begins.
			dialMs := make([]float64, len(conns))
			dialsMu.Lock()
			for i := range conns {
				dialMs[i] = -1
				if at, ok := dials[dialKey{i, target, ports[cmd.Expect]}]; ok && at.After(began) {
					dialMs[i] = float64(at.Sub(began).Microseconds()) / 1000
				}
			}
			dialsMu.Unlock()
			_ = out.Encode(map[string]any{"ms": ms, "dialMs": dialMs, "began": float64(began.UnixMicro()) / 1000})
		}
	}
}
