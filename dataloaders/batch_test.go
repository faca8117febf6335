package dataloaders

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// fetchLog records the batches a loader fetched.
type fetchLog struct {
	mu      sync.Mutex
	batches [][]int
}

func (f *fetchLog) fetch(_ context.Context, keys []int) (map[int]string, error) {
	f.mu.Lock()
	f.batches = append(f.batches, append([]int(nil), keys...))
	f.mu.Unlock()
	out := map[int]string{}
	for _, k := range keys {
		if k >= 0 { // negative keys do not exist
			out[k] = fmt.Sprint("v", k)
		}
	}
	return out, nil
}

func (f *fetchLog) count() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.batches) }

func loadAll(t *testing.T, l *Loader[int, string], keys []int) map[int]error {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	errs := map[int]error{}
	for _, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := l.Load(context.Background(), k)
			if err == nil && v != fmt.Sprint("v", k) {
				err = fmt.Errorf("key %d got %q", k, v)
			}
			mu.Lock()
			errs[k] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	return errs
}

func TestLoaderBatchesParallelLoads(t *testing.T) {
	var f fetchLog
	l := NewLoader(nil, f.fetch)
	// The batch leaves when full, however slowly its keys arrive.
	l.gap, l.max, l.capacity = time.Hour, time.Hour, 50
	keys := make([]int, 50)
	for i := range keys {
		keys[i] = i
	}
	for k, err := range loadAll(t, l, keys) {
		if err != nil {
			t.Errorf("key %d: %v", k, err)
		}
	}
	if n := f.count(); n != 1 {
		t.Fatalf("50 parallel loads took %d fetches, want 1", n)
	}
	// Cached for the request: asking again fetches nothing.
	loadAll(t, l, keys[:10])
	if n := f.count(); n != 1 {
		t.Errorf("loads of cached keys fetched again: %d fetches", n)
	}
}

func TestLoaderLeavesWhenQuietOrAtMax(t *testing.T) {
	for _, c := range []struct {
		name     string
		gap, max time.Duration
	}{{"quiet", time.Millisecond, time.Hour}, {"max", time.Hour, 5 * time.Millisecond}} {
		t.Run(c.name, func(t *testing.T) {
			var f fetchLog
			l := NewLoader(nil, f.fetch)
			l.gap, l.max = c.gap, c.max
			done := make(chan error, 1)
			go func() { _, err := l.Load(context.Background(), 7); done <- err }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(time.Minute):
				t.Fatal("a lone key was never fetched")
			}
		})
	}
}

func TestLoaderErrors(t *testing.T) {
	var f fetchLog
	l := NewLoader(nil, f.fetch)
	if _, err := l.Load(context.Background(), -1); !errors.Is(err, ErrNotFound) || !Missing(err) {
		t.Errorf("missing key: %v, want ErrNotFound", err)
	}
	boom := errors.New("boom")
	failing := NewLoader(nil, func(context.Context, []int) (map[int]string, error) { return nil, boom })
	if _, err := failing.Load(context.Background(), 1); !errors.Is(err, boom) {
		t.Errorf("failed fetch: %v, want its error", err)
	}
	panicking := NewLoader(nil, func(context.Context, []int) (map[int]string, error) { panic("bug") })
	if _, err := panicking.Load(context.Background(), 1); err == nil {
		t.Error("a panicking fetch returned no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	slow := NewLoader(nil, f.fetch)
	slow.gap, slow.max = time.Hour, time.Hour
	if _, err := slow.Load(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled caller: %v, want context.Canceled", err)
	}
}
