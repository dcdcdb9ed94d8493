package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/cmd/gossipd/internal/dashpreview"
)

// promServer is a Prometheus server a test started, scraping agents.
type promServer struct {
	base string // http://127.0.0.1:port
	log  *lockedBuffer
}

// startPrometheus runs the Prometheus binary bin with a configuration of
// its own in a temporary directory: it listens on loopback only and
// scrapes the metrics endpoints targets (job gossipd) every scrape. It is
// killed, and its directory removed, when the test ends.
func startPrometheus(t *testing.T, bin string, scrape time.Duration, targets []string) *promServer {
	t.Helper()
	dir := t.TempDir()
	quoted := make([]string, len(targets))
	for i, a := range targets {
		quoted[i] = strconv.Quote(a)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: %[1]s
  scrape_timeout: %[1]s
  evaluation_interval: %[1]s
scrape_configs:
  - job_name: gossipd
    static_configs:
      - targets: [%[2]s]
`, promDuration(scrape), strings.Join(quoted, ", "))
	cfgFile := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(cfg), 0o600))
	addr := freeTCP(t)
	p := &promServer{base: "http://" + addr, log: &lockedBuffer{}}
	cmd := exec.Command(bin, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = p.log, p.log
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
		if t.Failed() {
			t.Logf("log of prometheus:\n%s", p.log.String())
		}
	})
	waitFor(t, 30*time.Second, "Prometheus ready", func() bool {
		resp, err := http.Get(p.base + "/-/ready")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// promDuration writes d as Prometheus reads a duration: whole seconds.
func promDuration(d time.Duration) string {
	return fmt.Sprintf("%ds", int(math.Ceil(d.Seconds())))
}

// api calls the HTTP API at path with the form values and decodes its
// data into out; a failed call (a query Prometheus cannot parse or run)
// returns Prometheus's error.
func (p *promServer) api(path string, form url.Values, out any) error {
	resp, err := http.PostForm(p.base+path, form)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var r struct {
		Status    string          `json:"status"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("%s: HTTP %d: %s", path, resp.StatusCode, body)
	}
	if r.Status != "success" {
		return fmt.Errorf("%s (%s)", r.Error, r.ErrorType)
	}
	return json.Unmarshal(r.Data, out)
}

// promSample is a sample as the API writes it: [time, "value"].
type promSample [2]any

// point converts a sample.
func (s promSample) point() (dashpreview.Point, error) {
	t, ok := s[0].(float64)
	v, ok2 := s[1].(string)
	if !ok || !ok2 {
		return dashpreview.Point{}, fmt.Errorf("sample %v", s)
	}
	f, err := strconv.ParseFloat(v, 64) // NaN, +Inf included
	return dashpreview.Point{T: t, V: f}, err
}

// queryRange evaluates expr from start to end every step.
func (p *promServer) queryRange(expr string, start, end time.Time, step time.Duration) ([]dashpreview.Series, error) {
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Values []promSample      `json:"values"`
		} `json:"result"`
	}
	err := p.api("/api/v1/query_range", url.Values{"query": {expr}, "start": {unixString(start)},
		"end": {unixString(end)}, "step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}}, &data)
	if err != nil {
		return nil, err
	}
	if data.ResultType != "matrix" {
		return nil, fmt.Errorf("result type %q, want matrix", data.ResultType)
	}
	out := make([]dashpreview.Series, len(data.Result))
	for i, r := range data.Result {
		out[i].Labels = r.Metric
		for _, s := range r.Values {
			pt, err := s.point()
			if err != nil {
				return nil, err
			}
			out[i].Points = append(out[i].Points, pt)
		}
	}
	return out, nil
}

// value evaluates expr now and returns its single value, or NaN when it
// has none (or more than one, or fails).
func (p *promServer) value(expr string) float64 {
	var data struct {
		Result []struct {
			Value promSample `json:"value"`
		} `json:"result"`
	}
	if err := p.api("/api/v1/query", url.Values{"query": {expr}}, &data); err != nil || len(data.Result) != 1 {
		return math.NaN()
	}
	pt, err := data.Result[0].Value.point()
	if err != nil {
		return math.NaN()
	}
	return pt.V
}

// labelValues answers Grafana's label_values(metric, label): the values
// of label on the series of metric.
func (p *promServer) labelValues(metric, label string) ([]string, error) {
	var out []string
	resp, err := http.Get(p.base + "/api/v1/label/" + label + "/values?" + url.Values{"match[]": {metric}}.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string   `json:"status"`
		Data   []string `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("label values: status %s", r.Status)
	}
	out = r.Data
	return out, nil
}

// version is the server's version, as its build information gives it.
func (p *promServer) version(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(p.base + "/api/v1/status/buildinfo")
	require.NoError(t, err)
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Version string `json:"version"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
	require.NotEmpty(t, r.Data.Version)
	return r.Data.Version
}

// unixString writes t as the API reads a time: Unix seconds.
func unixString(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}
