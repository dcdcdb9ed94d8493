package fanout_test

import (
	"context"
	"fmt"

	"github.com/plumview/plumview/fanout"
)

// A subscriber whose buffer overflows receives what fitted, then a notice
// of how many it missed, though nothing more is published.
func Example() {
	f := fanout.New[string](2, nil)
	defer f.Close()
	sub := f.Subscribe()
	for _, v := range []string{"a", "b", "c", "d", "e"} {
		f.Publish(v) // never waits for sub
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Recv with a done context takes what is waiting, without waiting
	for {
		it, err := sub.Recv(ctx)
		if err != nil {
			break
		}
		if it.Missed > 0 {
			fmt.Println("missed", it.Missed)
			continue
		}
		fmt.Println(it.Value)
	}
	fmt.Printf("%+v\n", f.Stats())
	// Output:
	// a
	// b
	// missed 3
	// {Subscribers:1 Delivered:2 Lagged:3}
}
