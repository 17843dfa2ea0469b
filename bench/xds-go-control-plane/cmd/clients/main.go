// The client side of bench/xds-go-control-plane: N raw ADS clients in one process, each its own
// node id and SotW stream, subscribing as Envoy does (CDS and LDS wildcard, EDS and RDS by name)
// and ACKing every response at once. Responses are not decoded past the DiscoveryResponse: the
// clients measure the servers, not themselves.
//
// It reads one JSON command per line on stdin and answers each with one line:
//
//	{"op":"sync"}     answers {"ms":...,"reconnects":N} once every stream has a response of each of the 4 types
//	{"op":"mark"}     from now, each stream notes when it ACKs its first RDS response; answers {}
//	{"op":"collect"}  waits up to -deadline for every stream's note; answers {"acks":[unix ms, or -1]}
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

const (
	typeCluster  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	typeEndpoint = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	typeListener = "type.googleapis.com/envoy.config.listener.v3.Listener"
	typeRoute    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
)

var (
	serverAddr = flag.String("server", "127.0.0.1:18000", "the xDS server")
	clients    = flag.Int("clients", 100, "ADS streams, each its own node id")
	first      = flag.Int("first", 0, "the first client's number (node ids bench-N)")
	perConn    = flag.Int("per-conn", 1, "streams sharing one connection")
	clusters   = flag.Int("clusters", 1000, "EDS names c-0000…")
	routes     = flag.Int("routes", 20, "RDS names r-00…")
	deadline   = flag.Duration("deadline", 30*time.Second, "how long collect waits")
)

// reconnects counts streams that failed and were opened again (a server too busy to answer a
// connection's preface in time, as Envoy would retry it).
var reconnects atomic.Int64

type client struct {
	id     int
	seen   atomic.Int32 // bit per type with a response
	marked atomic.Bool
	ackAt  atomic.Int64 // unix µs of the first RDS ACK after mark, 0 if none
}

func names(prefix string, count, width int) []string {
	out := make([]string, count)
	for i := range out {
		out[i] = fmt.Sprintf("%s%0*d", prefix, width, i)
	}
	return out
}

// run keeps one ADS stream open, opening it again after a failure.
func (c *client) run(conn *grpc.ClientConn, subscriptions map[string][]string) {
	for {
		err := c.stream(conn, subscriptions)
		reconnects.Add(1)
		if reconnects.Load() <= 10 {
			fmt.Fprintf(os.Stderr, "client %d: %v; opening the stream again\n", c.id, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *client) stream(conn *grpc.ClientConn, subscriptions map[string][]string) error {
	stream, err := discoverygrpc.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(
		context.Background(), grpc.WaitForReady(true))
	if err != nil {
		return err
	}
	node := &corev3.Node{Id: fmt.Sprintf("bench-%d", c.id), Cluster: "bench"}
	bits := map[string]int32{typeCluster: 1, typeEndpoint: 2, typeListener: 4, typeRoute: 8}
	for _, typeURL := range []string{typeCluster, typeEndpoint, typeListener, typeRoute} {
		request := &discovery.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: subscriptions[typeURL]}
		if typeURL == typeCluster {
			request.Node = node
		}
		if err := stream.Send(request); err != nil {
			return err
		}
	}
	for {
		response, err := stream.Recv()
		if err != nil {
			return err
		}
		ack := &discovery.DiscoveryRequest{
			TypeUrl:       response.TypeUrl,
			VersionInfo:   response.VersionInfo,
			ResponseNonce: response.Nonce,
			ResourceNames: subscriptions[response.TypeUrl],
		}
		if err := stream.Send(ack); err != nil {
			return err
		}
		for {
			seen := c.seen.Load()
			if c.seen.CompareAndSwap(seen, seen|bits[response.TypeUrl]) {
				break
			}
		}
		if response.TypeUrl == typeRoute && c.marked.Load() && c.ackAt.Load() == 0 {
			c.ackAt.Store(time.Now().UnixMicro())
		}
	}
}

func main() {
	flag.Parse()
	subscriptions := map[string][]string{
		typeEndpoint: names("c-", *clusters, 4),
		typeRoute:    names("r-", *routes, 2),
	}
	all := make([]*client, *clients)
	var conn *grpc.ClientConn
	for i := range all {
		if i%*perConn == 0 {
			var err error
			conn, err = grpc.NewClient(*serverAddr,
				grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
			if err != nil {
				panic(err)
			}
		}
		all[i] = &client{id: *first + i}
		go all[i].run(conn, subscriptions)
	}
	began := time.Now()
	out := json.NewEncoder(os.Stdout)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var command struct {
			Op string `json:"op"`
		}
		_ = json.Unmarshal(in.Bytes(), &command)
		switch command.Op {
		case "sync":
			for !every(all, func(c *client) bool { return c.seen.Load() == 15 }) {
				time.Sleep(10 * time.Millisecond)
			}
			_ = out.Encode(map[string]int64{"ms": time.Since(began).Milliseconds(), "reconnects": reconnects.Load()})
		case "mark":
			for _, c := range all {
				c.ackAt.Store(0)
				c.marked.Store(true)
			}
			_ = out.Encode(map[string]bool{})
		case "collect":
			start := time.Now()
			for !every(all, func(c *client) bool { return c.ackAt.Load() != 0 }) && time.Since(start) < *deadline {
				time.Sleep(2 * time.Millisecond)
			}
			acks := make([]float64, len(all))
			for i, c := range all {
				c.marked.Store(false)
				acks[i] = -1
				if at := c.ackAt.Load(); at != 0 {
					acks[i] = float64(at) / 1000
				}
			}
			_ = out.Encode(map[string][]float64{"acks": acks})
		default:
			fmt.Fprintf(os.Stderr, "bad command %q\n", in.Text())
			os.Exit(2)
		}
	}
}

func every(all []*client, ok func(*client) bool) bool {
	for _, c := range all {
		if !ok(c) {
			return false
		}
	}
	return true
}
