package transport

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQUICCrashedPeerNoticed(t *testing.T) {
	a, b := newQUIC(t, Config{}), newQUIC(t, Config{})
	ca, cb := connect(t, a, b)
	_ = ca
	start := time.Now()
	require.NoError(t, a.udp.Close()) // no CONNECTION_CLOSE reaches b
	err := waitDone(t, cb, 2*time.Second)
	assert.ErrorIs(t, err, ErrIdleTimeout)
	t.Logf("crash noticed after %v", time.Since(start))
}
