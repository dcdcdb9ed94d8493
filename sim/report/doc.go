// Package report writes the simulator's results to a directory: a CSV file
// and an SVG plot per chart, and an index.html that shows every plot and
// table and links to the data.
//
// The same charts give the same bytes: numbers have a fixed format, nothing
// records the time, and everything is written in the order it was added.
package report
