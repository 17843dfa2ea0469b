package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	xdscreds "google.golang.org/grpc/credentials/xds"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	_ "google.golang.org/grpc/xds"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const whoami = "/gantry.interop.v1.Identity/Whoami"

// command: `calls` calls of `method` (health Check, or Whoami) to `target`. Credentials: "xds"
// (what the cluster's UpstreamTlsContext says, plaintext without one), "insecure", or "tls" to a
// plain host:port with the given files (the server's certificate is not checked: the tests use it
// to see what the server refuses). `fresh`: on a channel of its own, closed after the batch, so
// every batch makes a new TLS handshake with the certificates of that moment (rotation tests).
type command struct {
	ID          int    `json:"id"`
	Target      string `json:"target"`
	Method      string `json:"method"`
	Calls       int    `json:"calls"`
	Concurrency int    `json:"concurrency"`
	TimeoutMs   int    `json:"timeoutMs"`
	Creds       string `json:"creds"`
	CertFile    string `json:"certFile"`
	KeyFile     string `json:"keyFile"`
	Fresh       bool   `json:"fresh"`
}

type result struct {
	ID         int            `json:"id"`
	Codes      map[string]int `json:"codes"`
	Identities map[string]int `json:"identities"`
	Errors     []string       `json:"errors"`
	ElapsedUs  int64          `json:"elapsedUs"`
}

func credsFor(cmd command) (credentials.TransportCredentials, error) {
	switch cmd.Creds {
	case "", "xds":
		return xdscreds.NewClientCredentials(xdscreds.ClientOptions{FallbackCreds: insecure.NewCredentials()})
	case "insecure":
		return insecure.NewCredentials(), nil
	case "tls":
		config := &tls.Config{InsecureSkipVerify: true, RootCAs: x509.NewCertPool()}
		if cmd.CertFile != "" {
			pair, err := tls.LoadX509KeyPair(cmd.CertFile, cmd.KeyFile)
			if err != nil {
				return nil, err
			}
			config.Certificates = []tls.Certificate{pair}
		}
		return credentials.NewTLS(config), nil
	}
	return nil, fmt.Errorf("unknown creds %q", cmd.Creds)
}

func runClient() {
	conns := map[string]*grpc.ClientConn{}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := json.NewEncoder(os.Stdout)
	fmt.Fprintln(os.Stderr, "mtls client ready")
	for in.Scan() {
		var cmd command
		if err := json.Unmarshal(in.Bytes(), &cmd); err != nil {
			fmt.Fprintf(os.Stderr, "bad command: %v\n", err)
			os.Exit(2)
		}
		key := cmd.Target + "|" + cmd.Creds + "|" + cmd.CertFile
		conn, ok := conns[key]
		if !ok || cmd.Fresh {
			creds, err := credsFor(cmd)
			if err == nil {
				conn, err = grpc.NewClient(cmd.Target, grpc.WithTransportCredentials(creds))
			}
			if err != nil {
				_ = out.Encode(result{ID: cmd.ID, Errors: []string{err.Error()}})
				continue
			}
			if !cmd.Fresh {
				conns[key] = conn
			}
		}
		_ = out.Encode(run(conn, cmd))
		if cmd.Fresh {
			_ = conn.Close()
		}
	}
}

func run(conn *grpc.ClientConn, cmd command) result {
	res := result{ID: cmd.ID, Codes: map[string]int{}, Identities: map[string]int{}, Errors: []string{}}
	var mu sync.Mutex
	work := make(chan struct{})
	var wg sync.WaitGroup
	health := healthpb.NewHealthClient(conn)
	started := time.Now()
	for range max(1, cmd.Concurrency) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(max(1, cmd.TimeoutMs))*time.Millisecond)
				identity := ""
				var err error
				if cmd.Method == whoami {
					answer := &wrapperspb.StringValue{}
					err = conn.Invoke(ctx, whoami, &emptypb.Empty{}, answer)
					identity = answer.GetValue()
				} else {
					_, err = health.Check(ctx, &healthpb.HealthCheckRequest{})
				}
				cancel()
				mu.Lock()
				res.Codes[fmt.Sprint(int(status.Code(err)))]++
				if err == nil && cmd.Method == whoami {
					res.Identities[identity]++
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
	res.ElapsedUs = time.Since(started).Microseconds()
	return res
}
