package harness

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Smoke starts sys with the given number of nodes, waits for it to
// converge, broadcasts msgs messages of size bytes from different nodes,
// and returns an error unless every node other than the origin delivered
// every message exactly once. Every wait is bounded by timeout; sys is
// stopped before Smoke returns.
func Smoke(ctx context.Context, sys System, nodes, msgs, size int, timeout time.Duration) (err error) {
	rec := NewRecorder(nodes)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer func() { err = errors.Join(err, sys.Stop()) }()
	cfg := Config{Nodes: nodes, MaxPayload: size, Seed: 1, Deliver: rec.Deliver}
	if err := sys.Start(ctx, cfg); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	if err := sys.Join(ctx); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	deadline, _ := ctx.Deadline()
	if ok, why := WaitUntil(ctx, deadline, 10*time.Millisecond, sys.Converged); !ok {
		return fmt.Errorf("not converged: %s", why)
	}
	var dones []<-chan struct{}
	for i := range msgs {
		payload := make([]byte, size)
		for j := range payload {
			payload[j] = byte(i*31 + j*7)
		}
		id, origin := uint64(1000+i), i%nodes
		dones = append(dones, rec.Sent(id, origin, time.Now()))
		if err := sys.Broadcast(origin, id, payload); err != nil {
			return fmt.Errorf("broadcast %d: %w", id, err)
		}
	}
	for i, d := range dones {
		select {
		case <-d:
		case <-ctx.Done():
			return fmt.Errorf("message %d: %d nodes did not deliver it within %s", 1000+i, rec.Missing(uint64(1000+i)), timeout)
		}
	}
	sleepCtx(ctx, 300*time.Millisecond) // let duplicates show up
	total, dups, unknown := rec.Counts()
	if want := uint64(msgs * (nodes - 1)); total != want || dups != 0 || unknown != 0 {
		return fmt.Errorf("deliveries %d (want %d), duplicates %d, unknown %d", total, want, dups, unknown)
	}
	return nil
}
