package wire

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// testValue is a nested value of the shape the composition's envelopes
// have: a kind, bytes, a string and a list of structs.
type testValue struct {
	Kind  uint8
	Data  []byte
	Topic string
	Items []testItem
}

type testItem struct {
	ID   uint64
	Addr string
}

var testLimits = ValueLimits{MaxDepth: 8, MaxCollectionLen: 64}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := MarshalValue(v)
	require.NoError(t, err)
	return b
}

// Values decode alike whatever the kept decoder decoded before: a good
// value after a malformed one, after one with trailing bytes and after
// one of another shape, and a short value after a longer one.
func TestUnmarshalValueReusesNothingOfTheLast(t *testing.T) {
	long := testValue{Kind: 1, Data: []byte("a longer payload than the next"), Topic: "t", Items: []testItem{{1, "a"}, {2, "b"}}}
	short := testValue{Kind: 2, Data: []byte("x")}
	otherShape := struct{ Name string }{"not a kind"}
	cases := []struct {
		name   string
		before []byte
		ok     bool
	}{
		{"after a good value", mustMarshal(t, &long), true},
		{"after a malformed one", []byte{0x94, 0xc1}, false},
		{"after trailing bytes", append(mustMarshal(t, &long), 0x00), false},
		{"after one of another shape", mustMarshal(t, &otherShape), false},
		{"after a truncated one", mustMarshal(t, &long)[:10], false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var first testValue
			err := UnmarshalValue(c.before, &first, testLimits)
			if c.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrMalformedValue)
			}
			var got testValue
			require.NoError(t, UnmarshalValue(mustMarshal(t, &short), &got, testLimits))
			require.Equal(t, short, got)
		})
	}
}

// A value with trailing bytes gives its decoder back to the pool with
// bytes left unread; an empty or nil value decoded next must not read
// them (ResetBytes ignores a nil slice). Repeated, since the pool need
// not hand the same decoder back (under the race detector it drops some).
func TestUnmarshalValueEmptyAfterTrailingBytes(t *testing.T) {
	withTrailing := append(mustMarshal(t, &testValue{Kind: 7, Topic: "left"}), mustMarshal(t, &testValue{Kind: 9, Topic: "unread"})...)
	for i := range 40 {
		empty := []byte(nil)
		if i%2 == 1 {
			empty = []byte{}
		}
		var first testValue
		require.ErrorContains(t, UnmarshalValue(withTrailing, &first, testLimits), "trailing bytes")
		var got testValue
		err := UnmarshalValue(empty, &got, testLimits)
		require.ErrorIs(t, err, ErrMalformedValue)
		require.NotContains(t, err.Error(), "trailing", "%q decoded what the last value left", empty)
		require.Zero(t, got)
	}
}

// One handle is kept per ValueLimits, at most maxValueDecoders of them;
// beyond those, values still decode, on a fresh handle each.
func TestValueDecodersKeptAndBounded(t *testing.T) {
	require.Same(t, valueDecoderFor(testLimits), valueDecoderFor(testLimits), "one handle for the same limits")
	b := mustMarshal(t, &testValue{Kind: 3, Topic: "bounded"})
	for i := range 3 * maxValueDecoders {
		var got testValue
		require.NoError(t, UnmarshalValue(b, &got, ValueLimits{MaxDepth: 8, MaxCollectionLen: 1000 + i}))
		require.Equal(t, "bounded", got.Topic)
	}
	n := 0
	valueDecoders.Range(func(any, any) bool { n++; return true })
	require.Equal(t, maxValueDecoders, n)
	keptMu.Lock()
	defer keptMu.Unlock()
	require.Equal(t, maxValueDecoders, kept)
}

// A value decodes on a handle that already knows its types: with a fresh
// handle for each value this one took 33 allocations (2.4 µs), with the
// kept one 9 (0.9 µs; BenchmarkUnmarshalValue). The bound leaves room for the
// codec's own changes, not for learning the types again.
func TestUnmarshalValueDoesNotRelearnTypes(t *testing.T) {
	data := mustMarshal(t, &testValue{Kind: 1, Data: make([]byte, 256), Topic: "topic", Items: []testItem{{1, "127.0.0.1:7946"}}})
	var got testValue
	require.NoError(t, UnmarshalValue(data, &got, testLimits)) // the handle learns the types once
	allocs := testing.AllocsPerRun(50, func() {
		var v testValue
		if err := UnmarshalValue(data, &v, testLimits); err != nil {
			t.Fatal(err)
		}
	})
	require.LessOrEqual(t, allocs, 16.0)
}

// Decoders of one kept handle run concurrently (the runtime's nodes of one
// process, the simulator's workers); go test -race checks it.
func TestUnmarshalValueConcurrently(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				want := testValue{Kind: uint8(g), Data: []byte{byte(i)}, Items: []testItem{{uint64(i), "x"}}}
				var got testValue
				if err := UnmarshalValue(mustMarshal(t, &want), &got, testLimits); err != nil {
					t.Error(err)
					return
				}
				if got.Kind != want.Kind || got.Items[0].ID != uint64(i) {
					t.Errorf("goroutine %d value %d decoded as %+v", g, i, got)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkUnmarshalValue decodes one envelope-sized value on the kept
// handle (docs/benchmarks.md, "CPU: no metrics unless asked for,
// envelopes decoded on a kept handle").
func BenchmarkUnmarshalValue(b *testing.B) {
	v := testValue{Kind: 1, Data: make([]byte, 256), Topic: "topic", Items: []testItem{{1, "127.0.0.1:7946"}}}
	data := mustMarshal(b, &v)
	b.ReportAllocs()
	for b.Loop() {
		var got testValue
		if err := UnmarshalValue(data, &got, testLimits); err != nil {
			b.Fatal(err)
		}
	}
}
