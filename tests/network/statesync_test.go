//go:build e2e

package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ava-labs/avalanchego/config"
	"github.com/ava-labs/avalanchego/tests/fixture/tmpnet"
)

// The harness's chain config takes a summary every stateSyncInterval blocks and syncs a joining
// node when a summary is at least stateSyncMinBlocks ahead of it, so that a chain of a few
// thousand blocks has summaries to sync from.
const (
	stateSyncInterval  = 512
	stateSyncMinBlocks = 256
	harnessChainConfig = `{"logLevel":"info","stateSummaryInterval":512,"stateSyncMinBlocks":256}`
)

// What the chain must hold before nodes join it: at least 100,000 keys and 2,000 blocks, its tip
// a few blocks past a summary height (2,048), so that the joining node's time is the sync's and
// not that of bootstrapping up to an interval of blocks after the summary.
const (
	syncChainKeys   = 100_000
	syncChainBlocks = (2_000+stateSyncInterval-1)/stateSyncInterval*stateSyncInterval + 8
)

type stateSyncInfo struct {
	StateSync struct {
		Enabled           bool    `json:"enabled"`
		SummaryInterval   uint64  `json:"summaryInterval"`
		LastSummaryHeight *uint64 `json:"lastSummaryHeight"`
		Syncing           *struct {
			Height      uint64 `json:"height"`
			BucketsLeft uint64 `json:"bucketsLeft"`
		} `json:"syncing"`
	} `json:"stateSync"`
	BlockHistory struct {
		OldestBlockHeight uint64 `json:"oldestBlockHeight"`
	} `json:"blockHistory"`
}

func (c *kvvmClient) stateSyncInfo(ctx context.Context) (stateSyncInfo, error) {
	var info stateSyncInfo
	err := c.call(ctx, "kvvm_chainInfo", &info)
	return info, err
}

// checkStateSyncJoin grows the chain to at least 100,000 keys and 2,000 blocks, then adds three
// nodes that track the subnet: one with state sync off (the baseline: it replays every block), one
// that joins by state sync and then becomes a validator (as add-node makes one), and one killed
// while it syncs and restarted. Each must end at the validators' tip; the synced ones must start
// their history at the summary's height, serve the summary's state and take new writes. The log
// compares the two ways of joining. A fourth node with stateSyncWhenBehind joins before the chain
// grows and is stopped; restarted far behind it syncs, restarted a block behind it does not.
func checkStateSyncJoin(t *testing.T, h *harness) {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	validators := len(h.network.Nodes)
	seed := uint64(time.Now().UnixNano())
	// A block first, so that the node has history of its own, not only genesis.
	txID, err := newAccount("k/before").submit(ctx, h.client(0), 0, put("k/before", "a block before the node joins"))
	if err != nil {
		t.Fatal(err)
	}
	waitAccepted(ctx, t, h.client(0), txID)
	behind := h.startTrackingNode(ctx, map[string]any{"stateSyncWhenBehind": true})
	h.waitJoined(ctx, behind, time.Now())
	behindHistory := mustStateSyncInfo(ctx, t, h.client(behind)).BlockHistory.OldestBlockHeight
	behindTip, err := h.client(behind).lastAccepted(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if behindTip.Height == 0 {
		t.Fatal("the node with stateSyncWhenBehind joined a chain with no block")
	}
	behindNode := h.detachNode(ctx, behind)
	growChain(ctx, t, h, seed)
	tip := waitConverged(ctx, t, h)
	summary := tip.Height / stateSyncInterval * stateSyncInterval
	for i := 0; i < validators; i++ {
		waitSummary(ctx, t, h.client(i), summary)
	}
	t.Logf("chain at height %d; every node serves the summary at %d", tip.Height, summary)

	began := time.Now()
	replayer := h.startTrackingNode(ctx, map[string]any{"stateSyncEnabled": false})
	replayTook := h.waitJoined(ctx, replayer, began)
	if info := mustStateSyncInfo(ctx, t, h.client(replayer)); info.BlockHistory.OldestBlockHeight != 1 {
		t.Fatalf("the node with state sync off starts its history at %d, want 1", info.BlockHistory.OldestBlockHeight)
	}
	replayChain := h.chainJoinTook(replayer)
	// Stopped once measured: tmpnet makes every running node a bootstrap beacon of the next, and the
	// syncing node must start among the same peers as the replaying one did, or its primary network
	// bootstrap waits on this node and its time is no longer comparable.
	h.detachNode(ctx, replayer)

	began = time.Now()
	syncer := h.startTrackingNode(ctx, nil)
	syncTook := h.waitJoined(ctx, syncer, began)
	assertSyncedAt(ctx, t, h, syncer, summary)
	fetched, err := h.bootstrapFetched(ctx, syncer)
	if err != nil {
		t.Fatal(err)
	}
	if fetched >= float64(summary) {
		t.Fatalf("the state-synced node fetched %v blocks, as many as the summary's height %d", fetched, summary)
	}
	t.Logf("joining a chain of %d blocks, from the node's start until it is healthy at the tip: replaying from genesis took %s, state sync to %d and %d blocks after it %s (%.1f× faster)",
		tip.Height, replayTook.Round(time.Millisecond), summary, tip.Height-summary,
		syncTook.Round(time.Millisecond), replayTook.Seconds()/syncTook.Seconds())
	syncChain := h.chainJoinTook(syncer)
	t.Logf("the kvvm chain alone, from its plugin's start until normal operation: replaying from genesis took %s, state sync %s (%.1f× faster)",
		replayChain.Round(time.Millisecond), syncChain.Round(time.Millisecond), replayChain.Seconds()/syncChain.Seconds())

	// The synced node becomes a validator the way `kvvm-network add-node` makes one, then serves
	// and takes writes as one.
	if err := makeValidator(ctx, h.log, h.network, h.network.Subnets[0], h.node(0).URI, h.node(syncer)); err != nil {
		t.Fatalf("making the synced node a validator: %v", err)
	}
	assertServesSyncedState(ctx, t, h, syncer, seed)

	// Small chunks make the sync long enough to kill it in the middle.
	killed := h.startTrackingNode(ctx, map[string]any{"stateSyncChunkBytes": 16384})
	h.waitChainLog(ctx, killed, "state sync started")
	h.killNode(ctx, killed)
	h.restartNode(ctx, killed)
	h.waitChainLog(ctx, killed, "resuming the state sync under way")
	waitConverged(ctx, t, h)
	assertSyncedAt(ctx, t, h, killed, summary)

	checkSyncWhenBehind(ctx, t, h, behindNode, behindHistory, behindTip.Height, summary)
}

// checkSyncWhenBehind restarts a node with stateSyncWhenBehind that was stopped with history
// below summary: it must sync to the summary, dropping its older history. Stopped again and
// restarted a block behind, it must skip the summary and bootstrap instead.
func checkSyncWhenBehind(ctx context.Context, t *testing.T, h *harness, node *tmpnet.Node, oldest, stoppedHeight, summary uint64) {
	t.Helper()
	if stoppedHeight+stateSyncMinBlocks > summary {
		t.Fatalf("the node with stateSyncWhenBehind stopped at %d, too close to the summary at %d to test a sync", stoppedHeight, summary)
	}
	logged := h.chainLogSize(node)
	behind := h.attachNode(ctx, node)
	h.waitChainLogAfter(ctx, behind, logged, fmt.Sprintf("state sync started height=%d", summary))
	waitConverged(ctx, t, h)
	assertSyncedAt(ctx, t, h, behind, summary)
	t.Logf("a node with history from %d to %d, restarted with stateSyncWhenBehind, synced to %d",
		oldest, stoppedHeight, summary)

	h.detachNode(ctx, behind)
	writer := newAccount("k/behind")
	txID, err := writer.submit(ctx, h.client(0), 0, put("k/while-stopped", "written while a node was stopped"))
	if err != nil {
		t.Fatal(err)
	}
	waitAccepted(ctx, t, h.client(0), txID)
	logged = h.chainLogSize(node)
	behind = h.attachNode(ctx, node)
	h.waitChainLogAfter(ctx, behind, logged, "state summary too close to bootstrap by sync: skipped")
	waitConverged(ctx, t, h)
	if got := mustGet(ctx, t, h.client(behind), "k/while-stopped"); got.Value != "written while a node was stopped" {
		t.Fatalf("the restarted node reads k/while-stopped as %+v", got)
	}
	if info := mustStateSyncInfo(ctx, t, h.client(behind)); info.BlockHistory.OldestBlockHeight != summary {
		t.Fatalf("restarted a block behind, the node's history starts at %d, want %d (no second sync)", info.BlockHistory.OldestBlockHeight, summary)
	}
}

// growChain writes 100,000 new keys with the kvvm load client (the plugin binary), slowly enough
// that blocks carry a few transactions each, then tops the chain up to syncChainBlocks.
func growChain(ctx context.Context, t *testing.T, h *harness, seed uint64) {
	t.Helper()
	const opsPerTx = 32
	txs := syncChainKeys/opsPerTx + 1
	runLoad(ctx, t, h, seed, txs, opsPerTx, 8)
	for round := uint64(1); ; round++ {
		tip := waitConverged(ctx, t, h)
		if tip.Height >= syncChainBlocks {
			return
		}
		// At most one block per minBlockGapMs (250 ms), so 8 transactions a second keep each
		// block at about two: twice as many transactions as blocks missing.
		missing := int(syncChainBlocks - tip.Height)
		runLoad(ctx, t, h, seed+round, missing*2+8, 1, 8)
	}
}

// runLoad runs `kvvm load throughput` against the validators and fails the test if anything was
// lost or the nodes' roots differ.
func runLoad(ctx context.Context, t *testing.T, h *harness, seed uint64, txs, opsPerTx, rate int) {
	t.Helper()
	var urls []string
	for i := 0; i < 3; i++ {
		urls = append(urls, h.client(i).url)
	}
	cmd := exec.CommandContext(ctx, h.pluginPath, "load", "throughput",
		"--rpc", strings.Join(urls, ","), "--seed", fmt.Sprint(seed),
		"--txs", fmt.Sprint(txs), "--ops-per-tx", fmt.Sprint(opsPerTx), "--rate", fmt.Sprint(rate),
		"--accounts", "40", "--batch", "1", "--concurrency", "4", "--deadline", "900", "--stall", "60", "--json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	began := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("kvvm load: %v\n%s", err, stderr.String())
	}
	var report struct {
		Runs []struct {
			Accepted   int  `json:"accepted"`
			Lost       int  `json:"lost"`
			RootsEqual bool `json:"rootsEqual"`
			Blocks     int  `json:"blocks"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil || len(report.Runs) != 1 {
		t.Fatalf("kvvm load printed no report (%v): %s", err, stdout.String())
	}
	run := report.Runs[0]
	if run.Accepted != txs || run.Lost != 0 || !run.RootsEqual {
		t.Fatalf("kvvm load: %d of %d accepted, %d lost, roots equal %v", run.Accepted, txs, run.Lost, run.RootsEqual)
	}
	t.Logf("load: %d transactions of %d puts in %d blocks, %s", txs, opsPerTx, run.Blocks, time.Since(began).Round(time.Second))
}

// waitSummary waits until c serves a summary at height or above.
func waitSummary(ctx context.Context, t *testing.T, c *kvvmClient, height uint64) {
	t.Helper()
	err := eventually(ctx, 500*time.Millisecond, func() error {
		info, err := c.stateSyncInfo(ctx)
		if err != nil {
			return err
		}
		if last := info.StateSync.LastSummaryHeight; last == nil || *last < height {
			return fmt.Errorf("%s serves no summary at %d yet", c.url, height)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mustStateSyncInfo(ctx context.Context, t *testing.T, c *kvvmClient) stateSyncInfo {
	t.Helper()
	info, err := c.stateSyncInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// assertSyncedAt checks that node i joined by state sync to the summary at height: its history
// starts there, no sync is left under way, and its tip is the validators'.
func assertSyncedAt(ctx context.Context, t *testing.T, h *harness, i int, height uint64) {
	t.Helper()
	info := mustStateSyncInfo(ctx, t, h.client(i))
	if info.BlockHistory.OldestBlockHeight != height || info.StateSync.Syncing != nil {
		t.Fatalf("node %d: history from %d (want %d), sync under way %+v", i+1, info.BlockHistory.OldestBlockHeight, height, info.StateSync.Syncing)
	}
	tip := waitConverged(ctx, t, h)
	assertSameChain(ctx, t, h, height, tip.Height)
}

// assertServesSyncedState reads keys the load wrote before the summary through the synced node
// and a validator, and writes through the synced node.
func assertServesSyncedState(ctx context.Context, t *testing.T, h *harness, i int, seed uint64) {
	t.Helper()
	keys := []string{fmt.Sprintf("load/%d/0/0/0", seed), fmt.Sprintf("load/%d/39/5/31", seed)}
	synced, err := h.client(i).getMany(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	validator, err := h.client(0).getMany(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	for k := range keys {
		if synced[k] == nil || validator[k] == nil || *synced[k] != *validator[k] {
			t.Fatalf("%s: the synced node reads %+v, a validator %+v", keys[k], synced[k], validator[k])
		}
	}
	writer := newAccount("k/writer")
	txID, err := writer.submit(ctx, h.client(i), 0, put("k/after-sync", "written through a synced node"))
	if err != nil {
		t.Fatal(err)
	}
	waitAccepted(ctx, t, h.client(0), txID)
	waitAccepted(ctx, t, h.client(i), txID)
	if entry := mustGet(ctx, t, h.client(i), "k/after-sync"); entry.Value != "written through a synced node" {
		t.Fatalf("the synced node reads k/after-sync as %+v", entry)
	}
}

// startTrackingNode starts a node that tracks the kvvm subnet without validating it, with the
// harness's kvvm chain config plus extra, and returns its index at once (not waiting for it).
func (h *harness) startTrackingNode(ctx context.Context, extra map[string]any) int {
	h.t.Helper()
	node := tmpnet.NewNode()
	node.Flags[config.TrackSubnetsKey] = h.network.Subnets[0].SubnetID.String()
	if extra != nil {
		node.Flags[config.ChainConfigContentKey] = h.chainConfigContent(extra)
	}
	h.network.Nodes = append(h.network.Nodes, node)
	if err := h.network.StartNode(ctx, node); err != nil {
		h.t.Fatalf("starting a node: %v", err)
	}
	return len(h.network.Nodes) - 1
}

// chainConfigContent is the network's chain-config-content flag with extra merged into the kvvm
// chain's config.
func (h *harness) chainConfigContent(extra map[string]any) string {
	h.t.Helper()
	content, err := h.network.GetChainConfigContent()
	if err != nil {
		h.t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(content)
	if err != nil {
		h.t.Fatal(err)
	}
	var chains map[string]struct {
		Config  []byte
		Upgrade []byte
	}
	if err := json.Unmarshal(raw, &chains); err != nil {
		h.t.Fatal(err)
	}
	kvvm := chains[h.chainID]
	settings := map[string]any{}
	if err := json.Unmarshal(kvvm.Config, &settings); err != nil {
		h.t.Fatalf("the kvvm chain config %q: %v", kvvm.Config, err)
	}
	for k, v := range extra {
		settings[k] = v
	}
	if kvvm.Config, err = json.Marshal(settings); err != nil {
		h.t.Fatal(err)
	}
	chains[h.chainID] = kvvm
	merged, err := json.Marshal(chains)
	if err != nil {
		h.t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(merged)
}

// waitJoined waits until node i is healthy (its kvvm chain bootstrapped) and at the validators'
// tip, and returns how long that took since began.
func (h *harness) waitJoined(ctx context.Context, i int, began time.Time) time.Duration {
	h.t.Helper()
	if err := h.node(i).WaitForHealthy(ctx); err != nil {
		h.t.Fatalf("node %d not healthy: %v", i+1, err)
	}
	waitConverged(ctx, h.t, h)
	return time.Since(began)
}

// chainLogPath is where node's AvalancheGo keeps the kvvm chain's log (the plugin's stderr too),
// appended to across restarts.
func (h *harness) chainLogPath(node *tmpnet.Node) string {
	return filepath.Join(node.DataDir, "logs", h.chainID+".log")
}

// waitChainLog waits until node i's kvvm chain log holds text.
func (h *harness) waitChainLog(ctx context.Context, i int, text string) {
	h.t.Helper()
	h.waitChainLogAfter(ctx, i, 0, text)
}

// waitChainLogAfter waits until node i's kvvm chain log holds text past its first offset bytes.
func (h *harness) waitChainLogAfter(ctx context.Context, i int, offset int, text string) {
	h.t.Helper()
	path := h.chainLogPath(h.node(i))
	err := eventually(ctx, 20*time.Millisecond, func() error {
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if len(raw) < offset || !bytes.Contains(raw[offset:], []byte(text)) {
			return fmt.Errorf("node %d's chain log lacks %q past byte %d", i+1, text, offset)
		}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

// chainLogSize is how many bytes node's kvvm chain log holds now (0 before its chain first ran).
func (h *harness) chainLogSize(node *tmpnet.Node) int {
	info, err := os.Stat(h.chainLogPath(node))
	if err != nil {
		return 0
	}
	return int(info.Size())
}

// chainJoinTook reads from node i's kvvm chain log how long its chain took from the plugin's start
// to normal operation: the join as the chain sees it, without the node's own start and the
// bootstrap of the primary network, which take the same time however the chain joins. Only a
// node's first run is measured.
func (h *harness) chainJoinTook(i int) time.Duration {
	h.t.Helper()
	raw, err := os.ReadFile(h.chainLogPath(h.node(i)))
	if err != nil {
		h.t.Fatal(err)
	}
	var started time.Time
	for _, line := range strings.Split(string(raw), "\n") {
		switch {
		case started.IsZero() && strings.Contains(line, "kvvm plugin serving"):
			started = pluginLogTime(h.t, line)
		case !started.IsZero() && strings.Contains(line, `engine state changed state="normal_op"`):
			return pluginLogTime(h.t, line).Sub(started)
		}
	}
	h.t.Fatalf("node %d's chain log shows no plugin start followed by normal operation", i+1)
	return 0
}

// pluginLogTime is the timestamp that starts a line the kvvm plugin logged (RFC 3339, UTC).
func pluginLogTime(t *testing.T, line string) time.Time {
	t.Helper()
	stamp, _, _ := strings.Cut(line, " ")
	at, err := time.Parse(time.RFC3339Nano, stamp)
	if err != nil {
		t.Fatalf("a kvvm log line without a timestamp: %q", line)
	}
	return at
}

// detachNode stops node i and takes it out of the harness's nodes, so that checks over every node
// (convergence, equal chains) leave it out while it is down. attachNode brings it back.
func (h *harness) detachNode(ctx context.Context, i int) *tmpnet.Node {
	h.t.Helper()
	node := h.node(i)
	h.stopNode(ctx, i)
	h.network.Nodes = slices.Delete(h.network.Nodes, i, i+1)
	return node
}

// attachNode starts a node detachNode took out, as the harness's last node, and waits until it is
// healthy. Returns its index.
func (h *harness) attachNode(ctx context.Context, node *tmpnet.Node) int {
	h.t.Helper()
	h.network.Nodes = append(h.network.Nodes, node)
	i := len(h.network.Nodes) - 1
	h.restartNode(ctx, i)
	return i
}
