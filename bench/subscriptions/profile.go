package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"
)

// debugServer serves the started server's profiles and memory statistics on a loopback port
// of its own, apart from the API: only the bench's child process has one.
func debugServer() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/memstats", func(w http.ResponseWriter, r *http.Request) {
		// gc=N collects N times: each collection also halves the stacks that use less than a
		// quarter of theirs, so several show what the goroutines need when they wait.
		gcs, _ := strconv.Atoi(r.URL.Query().Get("gc"))
		for range gcs {
			runtime.GC()
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		_ = json.NewEncoder(w).Encode(memStats{
			Goroutines: runtime.NumGoroutine(), HeapInuse: m.HeapInuse, HeapAlloc: m.HeapAlloc,
			HeapIdle: m.HeapIdle, HeapReleased: m.HeapReleased, StackInuse: m.StackInuse,
			Sys: m.Sys, OtherSys: m.OtherSys + m.MSpanSys + m.MCacheSys + m.BuckHashSys + m.GCSys,
			NumGC: m.NumGC, GOGC: os.Getenv("GOGC"), MemoryLimit: debug.SetMemoryLimit(-1),
		})
	})
	go func() { _ = http.Serve(ln, mux) }()
	return "http://" + ln.Addr().String(), nil
}

type memStats struct {
	Goroutines   int    `json:"goroutines"`
	HeapInuse    uint64 `json:"heapInuse"`
	HeapAlloc    uint64 `json:"heapAlloc"`
	HeapIdle     uint64 `json:"heapIdle"`
	HeapReleased uint64 `json:"heapReleased"`
	StackInuse   uint64 `json:"stackInuse"`
	Sys          uint64 `json:"sys"`
	OtherSys     uint64 `json:"otherSys"`
	NumGC        uint32 `json:"numGC"`
	GOGC         string `json:"gogc"`
	MemoryLimit  int64  `json:"memoryLimit"`
}

// profile prints the server's Go memory statistics, before and after a forced collection,
// and saves its heap and goroutine profiles in f.profile, named after the moment.
func profile(ctx context.Context, f flags, tg target, n int, moment string) error {
	if f.profile == "" || tg.Debug == "" {
		return nil
	}
	if err := os.MkdirAll(f.profile, 0o755); err != nil {
		return err
	}
	get := func(path string) ([]byte, error) {
		ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tg.Debug+path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		return io.ReadAll(res.Body)
	}
	for _, gc := range []string{"", "1", "4"} {
		b, err := get("/debug/memstats?gc=" + gc)
		if err != nil {
			return err
		}
		var m memStats
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		label := "as is"
		switch gc {
		case "1":
			label = "after a GC"
		case "4":
			label = "after 4 more GCs"
		}
		per := func(v uint64) string { return fmt.Sprintf("%.1f KiB/sub", float64(v)/1024/float64(max(n, 1))) }
		fmt.Printf("go memory (%s, %s): goroutines %d (%.2f/sub); heap in use %s (%s), stacks %s (%s), other runtime %s, sys %s; GOGC %q, limit %s, %d GCs\n",
			moment, label, m.Goroutines, float64(m.Goroutines)/float64(max(n, 1)), mib(int64(m.HeapInuse)), per(m.HeapInuse),
			mib(int64(m.StackInuse)), per(m.StackInuse), mib(int64(m.OtherSys)), mib(int64(m.Sys)), m.GOGC, limit(m.MemoryLimit), m.NumGC)
	}
	for _, p := range []string{"heap", "goroutine"} {
		b, err := get("/debug/pprof/" + p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(f.profile, moment+"-"+p+".pb.gz"), b, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("profiles in %s: go tool pprof -sample_index=inuse_space %s\n", f.profile, filepath.Join(f.profile, moment+"-heap.pb.gz"))
	return nil
}

func limit(b int64) string {
	if b == 1<<63-1 {
		return "none"
	}
	return mib(b)
}
