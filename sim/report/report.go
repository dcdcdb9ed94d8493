package report

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
)

// Report collects charts and tables, in order, to be written to a
// directory.
type Report struct {
	title string
	items []item
	names map[string]bool // lookups only
}

// item is one section of the index: a table, or a chart with its files.
type item struct {
	title string
	text  string // a table's text; empty for a chart
	name  string // a chart's file name without extension
	svg   []byte
	csv   []byte
}

// New returns an empty report with the given title.
func New(title string) *Report {
	return &Report{title: title, names: make(map[string]bool)}
}

// AddTable adds a block of preformatted text, such as a printed table.
func (r *Report) AddTable(title, text string) {
	r.items = append(r.items, item{title: title, text: text})
}

// chart is what AddLine and AddBars need of a chart.
type chart interface {
	title() string
	validate() error
	writeSVG(b *bytes.Buffer)
	writeCSV(w io.Writer) error
}

// AddLine adds a line chart, written as name.svg and name.csv.
func (r *Report) AddLine(name string, c LineChart) error { return r.add(name, c) }

// AddBars adds a bar chart, written as name.svg and name.csv.
func (r *Report) AddBars(name string, c BarChart) error { return r.add(name, c) }

func (r *Report) add(name string, c chart) error {
	if err := r.claim(name); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return fmt.Errorf("report: chart %q: %w", name, err)
	}
	var svg, csv bytes.Buffer
	c.writeSVG(&svg)
	if err := c.writeCSV(&csv); err != nil {
		return fmt.Errorf("report: chart %q: %w", name, err)
	}
	r.items = append(r.items, item{title: c.title(), name: name, svg: svg.Bytes(), csv: csv.Bytes()})
	return nil
}

// claim checks that name is a usable, unused file name.
func (r *Report) claim(name string) error {
	if name == "" || name == "index" {
		return fmt.Errorf("report: %q cannot name a chart", name)
	}
	for _, ch := range name {
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
			return fmt.Errorf("report: chart name %q: use only a-z, 0-9, - and _", name)
		}
	}
	if r.names[name] {
		return fmt.Errorf("report: chart name %q is used twice", name)
	}
	r.names[name] = true
	return nil
}

// PrepareDir creates dir if it is missing and checks that files can be
// written in it.
func PrepareDir(dir string) error {
	if dir == "" {
		return errors.New("report: no output directory given")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: cannot create output directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("report: cannot write in output directory %s: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// Write writes every chart's SVG and CSV files and index.html to dir,
// creating dir if it is missing.
func (r *Report) Write(dir string) error {
	if err := PrepareDir(dir); err != nil {
		return err
	}
	for _, it := range r.items {
		if it.name == "" {
			continue
		}
		if err := writeFile(dir, it.name+".svg", it.svg); err != nil {
			return err
		}
		if err := writeFile(dir, it.name+".csv", it.csv); err != nil {
			return err
		}
	}
	return writeFile(dir, "index.html", r.index())
}

func writeFile(dir, name string, data []byte) error {
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// index renders index.html.
func (r *Report) index() []byte {
	var b bytes.Buffer
	esc := html.EscapeString
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>%s</title>\n", esc(r.title))
	b.WriteString("<style>\nbody { font-family: sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; color: #222; }\n" +
		"img { max-width: 100%; border: 1px solid #ddd; }\npre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }\n</style>\n</head>\n<body>\n")
	fmt.Fprintf(&b, "<h1>%s</h1>\n", esc(r.title))
	for _, it := range r.items {
		fmt.Fprintf(&b, "<section>\n<h2>%s</h2>\n", esc(it.title))
		if it.name == "" {
			fmt.Fprintf(&b, "<pre>%s</pre>\n", esc(it.text))
		} else {
			fmt.Fprintf(&b, "<img src=\"%s.svg\" alt=\"%s\">\n", it.name, esc(it.title))
			fmt.Fprintf(&b, "<p><a href=\"%s.svg\">%s.svg</a> · data: <a href=\"%s.csv\">%s.csv</a></p>\n", it.name, it.name, it.name, it.name)
		}
		b.WriteString("</section>\n")
	}
	b.WriteString("</body>\n</html>\n")
	return b.Bytes()
}
