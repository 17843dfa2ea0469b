// The go-control-plane side of bench/xds-go-control-plane: its snapshot cache and xDS server, as a
// user of the library writes them, serving the snapshot files run.mjs writes (the same resources
// Gantry serves). Every node maps to one snapshot (a constant node hash), as Gantry's bench server
// groups every node into one; each type has its own version, a hash of its resources, so a change
// of routes re-sends routes only.
//
// It prints {"port":N}, then reads one JSON command per line on stdin:
//
//	{"op":"load","file":F}  reads the snapshot in F (not served yet); answers {}
//	{"op":"set"}            serves the snapshot read last; answers {"at":unix ms just before SetSnapshot}
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"

	// The message types the snapshot holds, registered for FindMessageByURL.
	_ "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// oneGroup gives every node the same snapshot.
type oneGroup struct{}

func (oneGroup) ID(*corev3.Node) string { return "bench" }

func readString(data []byte, at int) (string, int) {
	n := int(binary.BigEndian.Uint16(data[at:]))
	return string(data[at+2 : at+2+n]), at + 2 + n
}

// load reads a snapshot file: per resource, type URL, name and the encoded message.
func load(file string) (*cache.Snapshot, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	items := map[types.ResponseType][]types.Resource{}
	digests := map[types.ResponseType][]byte{}
	for at := 0; at < len(data); {
		var typeURL, name string
		typeURL, at = readString(data, at)
		name, at = readString(data, at)
		n := int(binary.BigEndian.Uint32(data[at:]))
		value := data[at+4 : at+4+n]
		at += 4 + n
		kind, err := protoregistry.GlobalTypes.FindMessageByURL(typeURL)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", typeURL, name, err)
		}
		message := kind.New().Interface()
		if err := proto.Unmarshal(value, message); err != nil {
			return nil, fmt.Errorf("%s %q: %w", typeURL, name, err)
		}
		responseType := cache.GetResponseType(typeURL)
		items[responseType] = append(items[responseType], message)
		sum := sha256.Sum256(append([]byte(name+"\x00"), value...))
		digests[responseType] = append(digests[responseType], sum[:]...)
	}
	snapshot := &cache.Snapshot{}
	for responseType, resources := range items {
		version := sha256.Sum256(digests[responseType])
		snapshot.Resources[responseType] = cache.NewResources(hex.EncodeToString(version[:8]), resources)
	}
	return snapshot, snapshot.Consistent()
}

func main() {
	ctx := context.Background()
	snapshots := cache.NewSnapshotCache(true, oneGroup{}, nil)
	grpcServer := grpc.NewServer(grpc.MaxConcurrentStreams(1 << 20))
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(grpcServer, server.NewServer(ctx, snapshots, nil))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() { _ = grpcServer.Serve(lis) }()
	out := json.NewEncoder(os.Stdout)
	_ = out.Encode(map[string]int{"port": lis.Addr().(*net.TCPAddr).Port})
	in := bufio.NewScanner(os.Stdin)
	var loaded *cache.Snapshot
	for in.Scan() {
		var command struct {
			Op   string `json:"op"`
			File string `json:"file"`
		}
		_ = json.Unmarshal(in.Bytes(), &command)
		switch command.Op {
		case "load":
			snapshot, err := load(command.File)
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", command.File, err)
				os.Exit(1)
			}
			loaded = snapshot
			_ = out.Encode(map[string]bool{})
		case "set":
			at := float64(time.Now().UnixMicro()) / 1000
			if err := snapshots.SetSnapshot(ctx, "bench", loaded); err != nil {
				fmt.Fprintf(os.Stderr, "set snapshot: %v\n", err)
				os.Exit(1)
			}
			_ = out.Encode(map[string]float64{"at": at})
		default:
			fmt.Fprintf(os.Stderr, "bad command %q\n", in.Text())
			os.Exit(2)
		}
	}
}
