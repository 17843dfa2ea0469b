// loadgen is a lean gRPC load generator for the benchmarks: it sends pre-encoded unary requests over
// raw HTTP/2 frames (golang.org/x/net/http2), keeps a fixed number of calls in flight, and reports
// calls/s, p50/p99 latency, gRPC statuses and the first varint field of each answer (the RLS overall
// code). ghz decodes and encodes every message through protobuf reflection and keeps every call in its
// report; on a 2-core machine it then uses more CPU than the servers it measures, and the servers'
// own differences disappear under the generator's cost.
//
//	loadgen -addr 127.0.0.1:8081 -path /pkg.Service/Method -bodies requests.bin \
//	        -concurrency 64 -connections 4 -warmup 2s -duration 6s
//
// requests.bin holds gRPC length-prefixed messages back to back; calls take them in turn.
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

type result struct {
	Calls    int            `json:"calls"`
	Seconds  float64        `json:"seconds"`
	Rps      float64        `json:"rps"`
	P50Ms    float64        `json:"p50_ms"`
	P99Ms    float64        `json:"p99_ms"`
	Statuses map[string]int `json:"statuses"`
	Codes    map[string]int `json:"codes"`
	Errors   int            `json:"errors"`
}

type connStats struct {
	latencies []int64
	statuses  map[string]int
	codes     map[string]int
	errors    int
}

// measuring is 1 between the end of the warm-up and the end of the run.
var measuring atomic.Int32
var stopping atomic.Int32

// The connections, closed all at once when the run ends (calls still in flight then are not counted).
var conns struct {
	sync.Mutex
	list []net.Conn
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "server host:port")
	path := flag.String("path", "", "gRPC method path")
	bodiesFile := flag.String("bodies", "", "file of gRPC-framed request messages")
	concurrency := flag.Int("concurrency", 64, "calls in flight in total")
	connections := flag.Int("connections", 4, "HTTP/2 connections")
	warmup := flag.Duration("warmup", 2*time.Second, "warm-up before measuring")
	duration := flag.Duration("duration", 6*time.Second, "measured time")
	flag.Parse()

	bodies, err := readBodies(*bodiesFile)
	if err != nil || *path == "" {
		fmt.Fprintln(os.Stderr, "loadgen: need -path and -bodies with at least one message:", err)
		os.Exit(2)
	}
	stats := make([]*connStats, *connections)
	var wg sync.WaitGroup
	for i := 0; i < *connections; i++ {
		inflight := *concurrency / *connections
		if i < *concurrency%*connections {
			inflight++
		}
		stats[i] = &connStats{statuses: map[string]int{}, codes: map[string]int{}}
		wg.Add(1)
		go func(s *connStats, offset int) {
			defer wg.Done()
			if err := run(*addr, *path, bodies, offset, inflight, s); err != nil {
				fmt.Fprintln(os.Stderr, "loadgen:", err)
				s.errors++
			}
		}(stats[i], i)
	}
	time.Sleep(*warmup)
	measuring.Store(1)
	began := time.Now()
	time.Sleep(*duration)
	measuring.Store(0)
	elapsed := time.Since(began).Seconds()
	stopping.Store(1)
	conns.Lock()
	for _, c := range conns.list {
		c.Close()
	}
	conns.Unlock()
	wg.Wait()

	out := result{Statuses: map[string]int{}, Codes: map[string]int{}, Seconds: elapsed}
	var all []int64
	for _, s := range stats {
		all = append(all, s.latencies...)
		for k, v := range s.statuses {
			out.Statuses[k] += v
		}
		for k, v := range s.codes {
			out.Codes[k] += v
		}
		out.Errors += s.errors
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	out.Calls = len(all)
	out.Rps = float64(out.Statuses["0"]) / elapsed
	if len(all) > 0 {
		out.P50Ms = float64(all[len(all)*50/100]) / 1e6
		out.P99Ms = float64(all[len(all)*99/100]) / 1e6
	}
	json.NewEncoder(os.Stdout).Encode(out)
}

func readBodies(file string) ([][]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var bodies [][]byte
	for len(data) >= 5 {
		n := int(binary.BigEndian.Uint32(data[1:5]))
		if len(data) < 5+n {
			return nil, fmt.Errorf("truncated message in %s", file)
		}
		bodies = append(bodies, data[:5+n])
		data = data[5+n:]
	}
	if len(bodies) == 0 {
		return nil, fmt.Errorf("no messages in %s", file)
	}
	return bodies, nil
}

// run drives one connection until the run ends: a writer keeps `inflight` calls open, the reader
// (this goroutine) ends them.
func run(addr, path string, bodies [][]byte, offset, inflight int, s *connStats) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	conns.Lock()
	conns.list = append(conns.list, conn)
	conns.Unlock()
	bw := bufio.NewWriterSize(conn, 64*1024)
	framer := http2.NewFramer(bw, bufio.NewReaderSize(conn, 64*1024))
	framer.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	framer.MaxHeaderListSize = 1 << 20
	var writeMu sync.Mutex
	flush := func(write func() error) error {
		writeMu.Lock()
		defer writeMu.Unlock()
		if err := write(); err != nil {
			return err
		}
		return bw.Flush()
	}
	if _, err := bw.WriteString(http2.ClientPreface); err != nil {
		return err
	}
	if err := flush(func() error {
		if err := framer.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30}); err != nil {
			return err
		}
		return framer.WriteWindowUpdate(0, 1<<30)
	}); err != nil {
		return err
	}

	var headerBuf bytes.Buffer
	encoder := hpack.NewEncoder(&headerBuf)
	starts := make([]int64, 1<<16)
	tokens := make(chan struct{}, inflight)
	for i := 0; i < inflight; i++ {
		tokens <- struct{}{}
	}
	writerDone := make(chan error, 1)
	go func() {
		id := uint32(1)
		next := offset
		for range tokens {
			if stopping.Load() == 1 {
				writerDone <- nil
				return
			}
			writeMu.Lock()
			// Every call that is ready goes out in one write, as a real client's batching would.
			for {
				headerBuf.Reset()
				for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", path}, {":authority", addr}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
					encoder.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
				}
				starts[(id>>1)&0xffff] = time.Now().UnixNano()
				if err := framer.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: headerBuf.Bytes(), EndHeaders: true}); err != nil {
					writeMu.Unlock()
					writerDone <- err
					return
				}
				if err := framer.WriteData(id, true, bodies[next%len(bodies)]); err != nil {
					writeMu.Unlock()
					writerDone <- err
					return
				}
				id += 2
				next++
				select {
				case <-tokens:
					continue
				default:
				}
				break
			}
			err := bw.Flush()
			writeMu.Unlock()
			if err != nil {
				writerDone <- err
				return
			}
		}
	}()

	unacked := 0
	for {
		frame, err := framer.ReadFrame()
		if stopping.Load() == 1 {
			return nil
		}
		if err != nil {
			if err == io.EOF {
				return fmt.Errorf("server closed the connection")
			}
			return err
		}
		switch f := frame.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := flush(func() error { return framer.WriteSettingsAck() }); err != nil {
					return err
				}
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				if err := flush(func() error { return framer.WritePing(true, f.Data) }); err != nil {
					return err
				}
			}
		case *http2.DataFrame:
			data := f.Data()
			unacked += len(data)
			if len(data) >= 7 && data[5] == 0x08 && measuring.Load() == 1 {
				s.codes[fmt.Sprint(data[6])]++
			}
			if unacked > 1<<20 {
				n := uint32(unacked)
				unacked = 0
				if err := flush(func() error { return framer.WriteWindowUpdate(0, n) }); err != nil {
					return err
				}
			}
		case *http2.MetaHeadersFrame:
			if !f.StreamEnded() {
				continue
			}
			status := f.PseudoValue("status")
			grpcStatus := "none"
			for _, field := range f.Fields {
				if field.Name == "grpc-status" {
					grpcStatus = field.Value
				}
			}
			if status != "" && status != "200" {
				grpcStatus = "http " + status
			}
			if measuring.Load() == 1 {
				s.latencies = append(s.latencies, time.Now().UnixNano()-starts[(f.StreamID>>1)&0xffff])
				s.statuses[grpcStatus]++
			}
			tokens <- struct{}{}
		case *http2.RSTStreamFrame:
			if measuring.Load() == 1 {
				s.errors++
			}
			tokens <- struct{}{}
		case *http2.GoAwayFrame:
			return fmt.Errorf("server sent GOAWAY %v", f.ErrCode)
		}
		select {
		case err := <-writerDone:
			if err != nil && stopping.Load() == 0 {
				return err
			}
		default:
		}
	}
}
