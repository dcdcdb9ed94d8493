package systems

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/libp2p/go-libp2p/gologshim"
)

// keepAliveMsg is what libp2p's TCP transport logs for every connection
// made through a custom dialer: it wraps the conn in a type without
// SetKeepAlive. Loopback connections between live processes need no
// keep-alive, so it is dropped.
const keepAliveMsg = "can't set TCP keepalives. net.Conn doesn't support SetKeepAlive"

// logCounter is a slog.Handler that counts libp2p's and pubsub's warnings
// and errors by message instead of printing 64 nodes' worth of them; the
// counts go into the notes under the table.
type logCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

// libp2pLogs receives every libp2p and pubsub log record of the process.
var libp2pLogs = &logCounter{counts: map[string]int{}}

var installLogs sync.Once

// installLogCounter routes libp2p's logs to libp2pLogs; it must run before
// the first host is created.
func installLogCounter() {
	installLogs.Do(func() { gologshim.SetDefaultHandler(libp2pLogs) })
}

// Enabled implements slog.Handler.
func (l *logCounter) Enabled(_ context.Context, lvl slog.Level) bool { return lvl >= slog.LevelWarn }

// Handle implements slog.Handler.
func (l *logCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message == keepAliveMsg {
		return nil
	}
	l.mu.Lock()
	l.counts[r.Level.String()+" "+r.Message]++
	l.mu.Unlock()
	return nil
}

// WithAttrs implements slog.Handler.
func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler { return l }

// WithGroup implements slog.Handler.
func (l *logCounter) WithGroup(string) slog.Handler { return l }

// summary lists the n most frequent messages with their counts.
func (l *logCounter) summary(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	msgs := make([]string, 0, len(l.counts))
	for m := range l.counts {
		msgs = append(msgs, m)
	}
	slices.SortFunc(msgs, func(a, b string) int { return l.counts[b] - l.counts[a] })
	var out []string
	for _, m := range msgs[:min(n, len(msgs))] {
		out = append(out, fmt.Sprintf("%q ×%d", m, l.counts[m]))
	}
	return out
}
