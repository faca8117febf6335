package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
)

// target is one GraphQL request to repeat: the same body and headers every time.
type target struct {
	URL     string
	Body    []byte
	Headers map[string]string
}

// result is what one bounded run at fixed concurrency measured.
type result struct {
	Concurrency int
	Duration    time.Duration
	Requests    int
	Errors      int
	// FirstError is one failed response, to say what went wrong.
	FirstError string
	RPS        float64
	P50, P99   time.Duration
	Max        time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("c%d: %.1f req/s, p50 %s, p99 %s, %d errors of %d", r.Concurrency, r.RPS,
		ms(r.P50), ms(r.P99), r.Errors, r.Requests)
}

func ms(d time.Duration) string {
	switch {
	case d == 0:
		return "—"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	case d < 10*time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	default:
		return d.Round(100 * time.Millisecond).String()
	}
}

// loopback refuses any target that is not on this machine: the bench sends traffic only there.
func loopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s is not a loopback address", raw)
}

func newClient(c int, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		MaxIdleConns: c, MaxIdleConnsPerHost: c, MaxConnsPerHost: c, IdleConnTimeout: 30 * time.Second,
		DisableCompression: true,
	}}
}

// do sends one request and returns the body, or an error for a failed transport, a status other
// than 200, or a GraphQL response carrying errors.
func do(ctx context.Context, cl *http.Client, t target) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(t.Body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range t.Headers {
		req.Header.Set(k, v)
	}
	res, err := cl.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return body, fmt.Errorf("status %d: %.300s", res.StatusCode, body)
	}
	if bytes.Contains(body, []byte(`"errors":`)) {
		return body, fmt.Errorf("graphql errors: %.300s", body)
	}
	return body, nil
}

// hit sends t from c workers for d (each request waits for the one before it on its worker:
// a closed loop, like wrk), and measures throughput and latency. A request still running at
// the end is counted if it completes within timeout.
func hit(ctx context.Context, t target, c int, d, timeout time.Duration) (result, error) {
	if err := loopback(t.URL); err != nil {
		return result{}, err
	}
	cl := newClient(c, timeout)
	defer cl.CloseIdleConnections()
	stop := time.Now().Add(d)
	var (
		mu       sync.Mutex
		lat      []time.Duration
		errors   int
		firstErr string
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			var bad int
			var first string
			for time.Now().Before(stop) && ctx.Err() == nil {
				at := time.Now()
				_, err := do(ctx, cl, t)
				took := time.Since(at)
				if err != nil {
					bad++
					if first == "" {
						first = err.Error()
					}
					continue
				}
				mine = append(mine, took)
			}
			mu.Lock()
			lat = append(lat, mine...)
			errors += bad
			if firstErr == "" {
				firstErr = first
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return result{}, err
	}
	slices.Sort(lat)
	r := result{Concurrency: c, Duration: elapsed, Requests: len(lat) + errors, Errors: errors, FirstError: firstErr,
		RPS: float64(len(lat)) / elapsed.Seconds()}
	if n := len(lat); n > 0 {
		r.P50, r.P99, r.Max = lat[n*50/100], lat[min(n-1, n*99/100)], lat[n-1]
	}
	return r, nil
}
