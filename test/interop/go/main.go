// A gRPC xDS client driven by Gantry's interop tests: it reads one JSON command per line on stdin,
// makes the calls it asks for through the xds:/// resolver (bootstrap from GRPC_XDS_BOOTSTRAP or
// GRPC_XDS_BOOTSTRAP_CONFIG), and writes one JSON result per line: which backend answered each call
// (its "backend" response header) and the gRPC status codes.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	_ "google.golang.org/grpc/xds"
)

type command struct {
	ID          int               `json:"id"`
	Target      string            `json:"target"`
	Method      string            `json:"method"`
	Calls       int               `json:"calls"`
	Concurrency int               `json:"concurrency"`
	Metadata    map[string]string `json:"metadata"`
	TimeoutMs   int               `json:"timeoutMs"`
}

type result struct {
	ID       int            `json:"id"`
	Backends map[string]int `json:"backends"`
	Codes    map[string]int `json:"codes"`
	Errors   []string       `json:"errors"`
}


func main() {
	conns := map[string]*grpc.ClientConn{}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := json.NewEncoder(os.Stdout)
	fmt.Fprintln(os.Stderr, "interop client ready")
	for in.Scan() {
		var cmd command
		if err := json.Unmarshal(in.Bytes(), &cmd); err != nil {
			fmt.Fprintf(os.Stderr, "bad command: %v\n", err)
			os.Exit(2)
		}
		conn, ok := conns[cmd.Target]
		if !ok {
			c, err := grpc.NewClient(cmd.Target, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				_ = out.Encode(result{ID: cmd.ID, Errors: []string{err.Error()}})
				continue
			}
			conns[cmd.Target] = c
			conn = c
		}
		_ = out.Encode(run(conn, cmd))
	}
}

func run(conn *grpc.ClientConn, cmd command) result {
	res := result{ID: cmd.ID, Backends: map[string]int{}, Codes: map[string]int{}, Errors: []string{}}
	var mu sync.Mutex
	work := make(chan struct{})
	var wg sync.WaitGroup
	concurrency := max(1, cmd.Concurrency)
	client := healthpb.NewHealthClient(conn)
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(max(1, cmd.TimeoutMs))*time.Millisecond)
				if len(cmd.Metadata) > 0 {
					ctx = metadata.NewOutgoingContext(ctx, metadata.New(cmd.Metadata))
				}
				var header metadata.MD
				var err error
				if cmd.Method == "" || cmd.Method == "/grpc.health.v1.Health/Check" {
					_, err = client.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&header))
				} else {
					err = conn.Invoke(ctx, cmd.Method, &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{}, grpc.Header(&header))
				}
				cancel()
				code := status.Code(err)
				mu.Lock()
				res.Codes[fmt.Sprint(int(code))]++
				if names := header.Get("backend"); len(names) > 0 && err == nil {
					res.Backends[names[0]]++
				}
				if err != nil && len(res.Errors) < 5 {
					res.Errors = append(res.Errors, err.Error())
				}
				mu.Unlock()
			}
		}()
	}
	for range cmd.Calls {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	return res
}
