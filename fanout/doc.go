// Package fanout hands the values of one publisher to many subscribers,
// each through its own bounded buffer, and never makes the publisher wait.
//
// A subscriber whose buffer is full misses the value: it is dropped for
// that subscriber alone and counted in that subscriber's own miss count.
// The subscriber then receives a lag notice (an Item with Missed set) that
// carries the exact count, in the place of the values it stands for: before
// the next value that fitted, or, when nothing more was published, as soon
// as the subscriber has read what its buffer held. So, for every
// subscriber, the values received plus the counts of the notices received
// equal the values published on its topics while it was subscribed (less
// those still buffered), and no subscriber is charged for another's
// slowness.
//
// The reader pulls (Subscriber.Recv): the notice at the end of a burst is
// produced by the reader finding its buffer empty and misses pending, so
// the publisher neither polls nor retries.
//
// A Fanout filters by topic when it is given a function that names a
// value's topic; a subscriber then chooses its topics (none: all of them).
// Without that function every subscriber receives every value.
package fanout
