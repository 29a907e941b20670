// Command noop-extproc is the benchmark's floor for an Envoy ext_proc server: it answers every
// request_headers message with an empty HeadersResponse (CONTINUE) and does nothing else. It also
// serves grpc.health.v1 (SERVING), which the shipped envoy/envoy.yaml health-checks.
//
//	noop-extproc -listen 127.0.0.1:0 [-max-lifetime 30m] [-hold N -release-after 1s]
//
// When it listens it prints one JSON line on stdout:
//
//	{"event":"ready","grpcPort":PORT,"address":"127.0.0.1:PORT","gomaxprocs":N}
//
// With -hold N it is the floor of a held burst's release instead: it holds request_headers answers
// until N streams are held (after an override_message_timeout, as faas-waker sends), waits
// -release-after, then answers all of them at once (with the same mode_override faas-waker sends for
// a tracked request, so Envoy does the same work per stream) and
// prints {"event":"released","held":N,"atMs":EPOCH_MS} just before the first answer goes out; then it
// holds the next N.
//
// It stops on SIGTERM or SIGINT (graceful for up to 2 s, then hard), and by itself after
// -max-lifetime, so a benchmark that dies cannot leave it running for long.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	filterprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// gracefulStopTimeout bounds GracefulStop: Envoy keeps its gRPC connection open, so a graceful stop
// would otherwise wait for it.
const gracefulStopTimeout = 2 * time.Second

// noopProcessor answers CONTINUE to every phase Envoy sends; request_headers through hold, if set.
type noopProcessor struct {
	extprocv3.UnimplementedExternalProcessorServer
	hold *holdGate
}

// holdGate holds request_headers answers until n streams wait, then releases them together.
type holdGate struct {
	n     int
	after time.Duration
	mu    sync.Mutex
	count int
	open  chan struct{}
}

func newHoldGate(n int, after time.Duration) *holdGate {
	return &holdGate{n: n, after: after, open: make(chan struct{})}
}

// wait blocks until this stream's batch is released, or ctx ends (Envoy gave up on the stream).
// A stream that leaves while waiting still counts: the batch fills at n arrivals whatever becomes of
// them, so it never waits for a request that will not come.
func (g *holdGate) wait(ctx context.Context) error {
	g.mu.Lock()
	open := g.open
	g.count++
	if g.count == g.n {
		g.count = 0
		g.open = make(chan struct{})
		// Released from a timer, not from this handler: the last arrival waits like every other.
		time.AfterFunc(g.after, func() {
			at := float64(time.Now().UnixNano()) / 1e6
			fmt.Fprintf(os.Stdout, "{\"event\":\"released\",\"held\":%d,\"atMs\":%.3f}\n", g.n, at)
			close(open)
		})
	}
	g.mu.Unlock()
	select {
	case <-open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var _ extprocv3.ExternalProcessorServer = (*noopProcessor)(nil)

// Answers are immutable and shared by every stream: an empty HeadersResponse (or BodyResponse,
// TrailersResponse) means "continue unchanged".
var (
	continueRequestHeaders  = &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocv3.HeadersResponse{}}}
	continueResponseHeaders = &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extprocv3.HeadersResponse{}}}
	continueRequestBody     = &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{RequestBody: &extprocv3.BodyResponse{}}}
	continueResponseBody    = &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseBody{ResponseBody: &extprocv3.BodyResponse{}}}
	continueRequestTrailers = &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestTrailers{RequestTrailers: &extprocv3.TrailersResponse{}}}
	continueRespTrailers    = &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseTrailers{ResponseTrailers: &extprocv3.TrailersResponse{}}}
	// faas-waker's CONTINUE for a tracked request (src/extproc/wire.ts TRACKING_MODE_OVERRIDE): Envoy
	// keeps the stream open until the response ends.
	// Sent first while a request is held, like faas-waker's: Envoy's message_timeout (10 s in
	// envoy.yaml) must not fire while a batch gathers. 60 s stays under max_message_timeout (120 s).
	holdOverride                  = &extprocv3.ProcessingResponse{OverrideMessageTimeout: durationpb.New(60 * time.Second)}
	continueRequestHeadersTracked = &extprocv3.ProcessingResponse{
		Response: &extprocv3.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocv3.HeadersResponse{}},
		ModeOverride: &filterprocv3.ProcessingMode{
			RequestHeaderMode:   filterprocv3.ProcessingMode_SEND,
			ResponseHeaderMode:  filterprocv3.ProcessingMode_SKIP,
			ResponseTrailerMode: filterprocv3.ProcessingMode_SEND,
		},
	}
)

// Process reads messages until Envoy half-closes the stream and answers each one at once (or, with
// a hold gate, request_headers once its batch is released).
func (p noopProcessor) Process(stream extprocv3.ExternalProcessor_ProcessServer) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			// Envoy reset the stream (or the connection went away): nothing left to answer.
			return err
		}
		resp, err := answer(req)
		if err != nil {
			return err
		}
		if _, isHead := req.Request.(*extprocv3.ProcessingRequest_RequestHeaders); isHead && p.hold != nil {
			if err := stream.Send(holdOverride); err != nil {
				return err
			}
			if err := p.hold.wait(stream.Context()); err != nil {
				return err
			}
			resp = continueRequestHeadersTracked
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// answer returns the CONTINUE reply for the phase in req.
func answer(req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
	switch req.Request.(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		return continueRequestHeaders, nil
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		return continueResponseHeaders, nil
	case *extprocv3.ProcessingRequest_RequestBody:
		return continueRequestBody, nil
	case *extprocv3.ProcessingRequest_ResponseBody:
		return continueResponseBody, nil
	case *extprocv3.ProcessingRequest_RequestTrailers:
		return continueRequestTrailers, nil
	case *extprocv3.ProcessingRequest_ResponseTrailers:
		return continueRespTrailers, nil
	default:
		return nil, status.Errorf(codes.InvalidArgument, "unexpected ext_proc message %T", req.Request)
	}
}

// loopbackListener listens on address, which must name a loopback IP (127.0.0.0/8 or ::1).
func loopbackListener(address string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("-listen %q: %w", address, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("-listen %q: not a loopback IP address", address)
	}
	return net.Listen("tcp", address)
}

func run() error {
	address := flag.String("listen", "127.0.0.1:0", "loopback host:port to listen on (port 0 = ephemeral)")
	maxLifetime := flag.Duration("max-lifetime", 30*time.Minute, "stop by itself after this long (0 = never)")
	hold := flag.Int("hold", 0, "hold request_headers answers until this many streams wait, then release them together (0 = answer at once)")
	releaseAfter := flag.Duration("release-after", time.Second, "with -hold: how long after the last arrival the batch is released")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", flag.Args())
	}
	if *hold < 0 || *releaseAfter < 0 {
		return fmt.Errorf("-hold and -release-after must not be negative")
	}
	processor := noopProcessor{}
	if *hold > 0 {
		processor.hold = newHoldGate(*hold, *releaseAfter)
	}

	lis, err := loopbackListener(*address)
	if err != nil {
		return err
	}
	// Envoy opens one stream per held request: grpc-go's default of unlimited concurrent streams holds them all.
	server := grpc.NewServer()
	extprocv3.RegisterExternalProcessorServer(server, processor)
	healthServer := health.NewServer() // "" (the whole server) is SERVING from the start
	healthServer.SetServingStatus(extprocv3.ExternalProcessor_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(server, healthServer)

	served := make(chan error, 1)
	go func() { served <- server.Serve(lis) }()

	port := lis.Addr().(*net.TCPAddr).Port
	ready, err := json.Marshal(map[string]any{"event": "ready", "grpcPort": port, "address": lis.Addr().String(), "gomaxprocs": runtime.GOMAXPROCS(0)})
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(os.Stdout, "%s\n", ready); err != nil {
		return err
	}

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	var lifetime <-chan time.Time
	if *maxLifetime > 0 {
		lifetime = time.After(*maxLifetime)
	}
	select {
	case err := <-served:
		return err
	case <-signals:
	case <-lifetime:
		fmt.Fprintf(os.Stderr, "noop-extproc: -max-lifetime %s reached, stopping\n", *maxLifetime)
	}
	healthServer.Shutdown()
	stopped := make(chan struct{})
	go func() {
		server.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(gracefulStopTimeout):
		server.Stop()
	}
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "noop-extproc: %v\n", err)
		os.Exit(1)
	}
}
