package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/plumview/plumview/cmd/gossipd/internal/datadir"
	"github.com/plumview/plumview/cmd/gossipd/internal/server"
	"github.com/plumview/plumview/ice"
	"github.com/plumview/plumview/membership"
	"github.com/plumview/plumview/transport"
)

// runAgent runs the agent until SIGTERM or SIGINT, or a Leave call.
func runAgent(args []string, _, stderr io.Writer) error {
	var c agentConfig
	if err := parseFlags(agentFlags(&c), args, stderr); err != nil {
		return err
	}
	log, err := c.logger()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	adm, signer, err := c.admission()
	if err != nil {
		return err
	}
	if err := checkExposure(c.bind, adm, c.insecure); err != nil {
		return err
	}
	nat, err := c.nat.check(&c, signer)
	if err != nil {
		return err
	}
	if c.insecure {
		log.Warn("INSECURE: -insecure is set, so this agent admits ANY peer that reaches " + c.bind +
			"; anyone can join the cluster, read its broadcasts and send their own. Use a cluster secret (-cluster-secret-file) outside a lab.")
	}
	if c.maxPayload <= 0 || c.maxPayload > maxPayloadBytes {
		return fmt.Errorf("gossipd: -max-payload must be between 1 and %d", maxPayloadBytes)
	}
	if err := c.detection.check(); err != nil {
		return err
	}
	if err := c.checkRetention(); err != nil {
		return err
	}
	seeds := splitList(c.seeds)
	for _, seed := range seeds {
		if err := checkSeed(seed); err != nil {
			return err
		}
	}
	// An absolute path, so that the log says where the socket is and a
	// relative -grpc-socket means the same whatever the clients' directory.
	if c.grpcSocket, err = filepath.Abs(c.grpcSocket); err != nil {
		return fmt.Errorf("gossipd: -grpc-socket: %w", err)
	}
	var store *datadir.Store
	var saved *datadir.State
	if c.dataDir != "" {
		if store, saved, err = datadir.Open(c.dataDir); err != nil {
			return fmt.Errorf("gossipd: %w", err)
		}
	}
	wall, err := wallClock()
	if err != nil {
		return err
	}
	var listeners, ports []net.Listener
	defer func() {
		for _, l := range append(listeners, ports...) {
			_ = l.Close()
		}
	}()
	// The health and metrics ports are bound before the socket is
	// created, so that once a client sees the socket every port answers
	// (their servers start below).
	var healthLis, metricsLis net.Listener
	if c.healthAddr != "" {
		if healthLis, err = net.Listen("tcp", c.healthAddr); err != nil {
			return fmt.Errorf("gossipd: -health-addr: %w", err)
		}
		ports = append(ports, healthLis)
	}
	if c.metricsAddr != "" {
		if metricsLis, err = net.Listen("tcp", c.metricsAddr); err != nil {
			return fmt.Errorf("gossipd: -metrics-addr: %w", err)
		}
		ports = append(ports, metricsLis)
	}
	lis, err := listenUnix(c.grpcSocket)
	if err != nil {
		return err
	}
	listeners = append(listeners, lis)
	id, err := transport.LoadOrCreateIdentity(c.keyFile)
	if err != nil {
		return fmt.Errorf("gossipd: key file: %w", err)
	}
	if signer != nil { // certify this agent's key with the CA derived from the cluster secret
		if id.CACert, err = transport.IssueCertificate(signer, id.Public(), clusterCertValidity); err != nil {
			return fmt.Errorf("gossipd: cluster secret: %w", err)
		}
	}
	if c.grpcAddr != "" {
		tl, err := listenLoopback(c.grpcAddr)
		if err != nil {
			return err
		}
		listeners = append(listeners, tl)
	}
	tc := transport.Config{Identity: id, ListenAddr: c.bind, AdvertiseAddr: c.advertise, Admission: adm}
	c.detection.transport(&tc)
	tr, err := transport.ListenQUIC(tc)
	if err != nil {
		return fmt.Errorf("gossipd: bind %s: %w", c.bind, err)
	}
	m, gatherer, err := newMetrics()
	if err != nil {
		_ = tr.Close()
		return err
	}
	relay, err := nat.start()
	if err != nil {
		_ = tr.Close()
		return err
	}
	if relay != nil {
		defer func() { _ = relay.Close() }()
	}
	if err := registerNATMetrics(gatherer, ice.Default, relay); err != nil {
		_ = tr.Close()
		return err
	}
	if c.trustMembers {
		log.Warn("signatures off (-trust-members): any admitted member can broadcast in another's name and rewrite another's member record")
	}
	start, err := restore(saved, wall, id.Public())
	if err != nil {
		_ = tr.Close()
		return err
	}
	mc := membership.Config{Transport: tr, Metadata: []byte(c.meta), Logger: log.Named("membership"), Metrics: m,
		TrustMembers: c.trustMembers, StrictSignatures: c.strictSigs, CheckReachability: nat.auto, ICE: nat.iceLinks(tc)}
	c.detection.node(&mc)
	mc.Roster.Incarnation = start.incarnation
	mc.Protocol.Plumtree.FirstSequence = start.firstSequence
	mc.Protocol.Plumtree.PayloadRetention = c.retention
	mc.Protocol.Plumtree.CalmPayloadRetention = c.calmRetention
	mc.Protocol.Plumtree.MaxCachedBytes = c.retentionBytes
	if saved != nil && saved.NodeID == peerID(transport.KeyID(id.Public())) {
		mc.DeliveryMarks = saved.Delivered // not delivered again (gossip.DeliveryMark)
	}
	node, err := membership.New(mc)
	if err != nil {
		_ = tr.Close()
		return fmt.Errorf("gossipd: %w", err)
	}
	defer func() { _ = node.Close() }()
	var pers *persister
	scfg := server.Config{
		Node: node, Transport: tr, BindAddr: c.bind, MaxPayloadBytes: c.maxPayload,
		Retain: c.resumeRetain, RetainBytes: c.resumeRetainBytes,
		Logger: log, Topics: splitList(c.topics),
	}
	if store != nil {
		if saved != nil && saved.NodeID != peerID(node.ID()) {
			log.Warn("the data directory was saved by another identity: its members are used as contacts, its incarnation and reservation as floors",
				zap.String("data_dir", c.dataDir), zap.String("saved_id", saved.NodeID))
		}
		seq, err := datadir.NewSequencer(store, start.firstSequence, 0)
		if err != nil {
			return fmt.Errorf("gossipd: %w", err)
		}
		pers = &persister{store: store, seq: seq, node: node, log: log, joined: func() bool { return false }}
		pers.save() // the new incarnation, at once
		scfg.BeforeBroadcast, scfg.AfterBroadcast = pers.beforeBroadcast, pers.afterBroadcast
		log.Info("data directory", zap.String("data_dir", c.dataDir), zap.Bool("restored", saved != nil),
			zap.Uint64("incarnation", start.incarnation), zap.Uint64("first_sequence", start.firstSequence),
			zap.Int("saved_contacts", len(start.contacts)), zap.Int("delivery_marks", len(mc.DeliveryMarks)))
	}
	left := make(chan struct{})
	var leftOnce sync.Once
	scfg.OnLeave = func() { leftOnce.Do(func() { close(left) }) }
	srv, err := server.New(scfg)
	if err != nil {
		return err
	}
	if pers != nil {
		pers.joined = srv.Joined
	}
	g := grpc.NewServer()
	srv.Register(g)
	for _, l := range listeners {
		go func() { _ = g.Serve(l) }()
	}
	var hg *grpc.Server // health only, for probes from outside the host
	if healthLis != nil {
		hg = grpc.NewServer()
		srv.RegisterHealth(hg)
		go func() { _ = hg.Serve(healthLis) }()
	}
	var hs *http.Server
	if metricsLis != nil {
		hs = &http.Server{Handler: httpHandler(gatherer, node, srv), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = hs.Serve(metricsLis) }()
	}
	log.Info("agent started", append(startupSummary(&c, node.ID(), node.Addr(), describeAdmission(adm, signer != nil), seeds, len(start.contacts)),
		zap.String("nat", c.nat.mode), zap.String("serves", nat.role()))...)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go joinLoop(ctx, log, node, srv, append(seeds, start.contacts...))
	go pers.loop(ctx)
	select {
	case <-ctx.Done():
		log.Info("signal received: leaving the cluster")
	case <-left:
		log.Info("left the cluster on request")
	}
	srv.Draining()   // no broadcast accepted from now on, none in flight
	pers.saveFinal() // before leaving, while the node still answers
	return shutdown(log, c.shutdownTimeout, node, srv, g, hg, hs)
}

// startupSummary is the fields of the agent's one start-up line: who it
// is, where it listens and is reached, whom it admits, whom it joins
// through and where it keeps its state.
func startupSummary(c *agentConfig, id uint64, addr, admits string, seeds []string, savedContacts int) []zap.Field {
	advertise := c.advertise
	if advertise == "" {
		advertise = "(the bound address)"
	}
	admission := admits
	if c.insecure {
		admission = "any key (-insecure)"
	} else if admits == "any key" {
		admission = "any key (loopback bind)"
	}
	seedList := strings.Join(seeds, ",")
	if seedList == "" {
		seedList = "(none: first node, or its saved members)"
	}
	dataDir := c.dataDir
	if dataDir == "" {
		dataDir = "(none: nothing kept across restarts)"
	}
	v := readBuildVersion()
	version := v.version
	if v.revision != "" {
		version += " " + v.revision
	}
	return []zap.Field{
		zap.String("id", peerID(id)), zap.String("bind", c.bind), zap.String("advertise", advertise),
		zap.String("addr", addr), zap.String("admission", admission), zap.String("seeds", seedList),
		zap.Int("saved_contacts", savedContacts), zap.String("data_dir", dataDir),
		zap.String("socket", c.grpcSocket), zap.String("grpc_addr", c.grpcAddr),
		zap.String("metrics_addr", c.metricsAddr), zap.String("health_addr", c.healthAddr),
		zap.String("version", version),
	}
}

// peerID renders a node ID as the CLI, /debug/ and the logs all do:
// sixteen hexadecimal digits.
func peerID(id uint64) string { return fmt.Sprintf("%016x", id) }

// checkSeed refuses a seed that can never be dialled, at start rather
// than by retrying it forever: a key that is not one, or no host:port. A
// DNS name that does not resolve yet is kept, since it may later.
func checkSeed(seed string) error {
	hostport := seed
	if k, rest, pinned := strings.Cut(seed, "@"); pinned {
		if _, err := parsePublicKey(k); err != nil || k == "" {
			return fmt.Errorf("gossipd: -seeds: %q: the part before @ is not a base64url ed25519 public key; want key@host:port or host:port", seed)
		}
		if strings.Contains(rest, "@") {
			return fmt.Errorf("gossipd: -seeds: %q: more than one @; want key@host:port or host:port", seed)
		}
		hostport = rest
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("gossipd: -seeds: %q: want key@host:port or host:port (%v)", seed, err)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("gossipd: -seeds: %q: port %q is not a number from 1 to 65535", seed, port)
	}
	if host == "" {
		return fmt.Errorf("gossipd: -seeds: %q: no host; want key@host:port or host:port", seed)
	}
	if _, err := netip.ParseAddr(host); err != nil && !validHostName(host) {
		return fmt.Errorf("gossipd: -seeds: %q: host %q is neither an IP address nor a DNS name", seed, host)
	}
	return nil
}

// validHostName reports whether s is made of DNS labels (letters, digits,
// hyphens and underscores, dot-separated).
func validHostName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// joinLoop joins through the seeds, retrying until it succeeds or ctx
// ends; health turns SERVING when it has.
func joinLoop(ctx context.Context, log *zap.Logger, node *membership.Node, srv *server.Server, seeds []string) {
	for {
		jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := node.Join(jctx, seeds...)
		cancel()
		if err == nil {
			log.Info("joined the cluster", zap.Strings("seeds", seeds))
			srv.MarkJoined()
			return
		}
		if ctx.Err() != nil || errors.Is(err, membership.ErrClosed) {
			return
		}
		log.Warn("join failed; retrying", zap.Error(err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// shutdown marks the server not serving, leaves the cluster, ends the
// streams and stops the servers, all within timeout.
func shutdown(log *zap.Logger, timeout time.Duration, node *membership.Node, srv *server.Server, g, hg *grpc.Server, hs *http.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	srv.Draining()
	if err := node.Leave(ctx); err != nil && !errors.Is(err, membership.ErrClosed) {
		log.Warn("leave did not complete", zap.Error(err))
	}
	srv.Shutdown()
	stopped := make(chan struct{})
	go func() { g.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		g.Stop()
	}
	if hg != nil {
		hg.Stop()
	}
	if hs != nil {
		_ = hs.Shutdown(ctx)
	}
	log.Info("agent stopped")
	return nil
}
