//go:build e2e

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ava-labs/avalanchego/config"
	"github.com/ava-labs/avalanchego/ids"
	"github.com/ava-labs/avalanchego/tests/fixture/tmpnet"
	"github.com/ava-labs/avalanchego/utils/logging"
	"github.com/ava-labs/avalanchego/wallet/subnet/primary/common"
)

// harness owns one tmpnet network whose nodes are children of the test process.
type harness struct {
	t          *testing.T
	log        logging.Logger
	network    *tmpnet.Network
	chainID    string
	pluginPath string

	stop chan struct{} // ends reapExited
}

func requireEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run the end-to-end suite through scripts/e2e.sh", name)
	}
	return v
}

// startHarness starts nodeCount validators of a kvvm subnet. The network is stopped, and on
// failure the nodes' logs are printed, when the test ends.
func startHarness(t *testing.T, nodeCount int, avalanchegoPath, pluginDir string) *harness {
	t.Helper()
	log, err := newLogger("info")
	if err != nil {
		t.Fatal(err)
	}
	subnetConfig, err := parseSubnetConfig(defaultSubnetConfig)
	if err != nil {
		t.Fatal(err)
	}
	vmID, err := ids.FromString(kvvmVMID)
	if err != nil {
		t.Fatal(err)
	}
	pluginPath := filepath.Join(pluginDir, vmID.String())
	genesis, err := loadGenesis("", "", pluginPath)
	if err != nil {
		t.Fatal(err)
	}
	network := newNetwork(log, networkSpec{
		nodeCount:       nodeCount,
		avalanchegoPath: avalanchegoPath,
		pluginDir:       pluginDir,
		vmID:            vmID,
		genesis:         genesis,
		chainConfig:     harnessChainConfig,
		subnetConfig:    subnetConfig,
		nodeLogLevel:    "info",
	})

	h := &harness{t: t, log: log, network: network, pluginPath: pluginPath, stop: make(chan struct{})}
	go h.reapExited()
	t.Cleanup(h.shutdown)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	began := time.Now()
	if err := bootstrapNetwork(ctx, log, network, os.Getenv("KVVM_E2E_ROOT")); err != nil {
		t.Fatalf("starting %d nodes: %v", nodeCount, err)
	}
	summary, err := summarize(network, vmID)
	if err != nil {
		t.Fatal(err)
	}
	h.chainID = summary.ChainID
	t.Logf("%d nodes running chain %s after %s (network dir %s)", nodeCount, h.chainID, time.Since(began).Round(time.Second), network.Dir)
	return h
}

func (h *harness) shutdown() {
	if h.t.Failed() {
		h.dumpLogs()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := h.network.Stop(ctx); err != nil {
		h.t.Errorf("stopping the network: %v", err)
	}
	close(h.stop)
	if os.Getenv("KVVM_E2E_KEEP") == "" && !h.t.Failed() {
		_ = os.RemoveAll(h.network.Dir)
	}
}

// reapExited collects the exit status of AvalancheGo processes of this test that ended. tmpnet
// starts nodes without waiting for them, so an exited node stays a zombie child of the test, which
// still has a /proc entry and answers signal 0 as if it ran. Only zombies are reaped, and only
// AvalancheGo ones, so no other child's exit status is taken from code that waits for it.
func (h *harness) reapExited() {
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-ticker.C:
		}
		for _, pid := range zombieChildren(os.Getpid(), "avalanchego") {
			var status syscall.WaitStatus
			_, _ = syscall.Wait4(pid, &status, syscall.WNOHANG, nil)
		}
	}
}

// zombieChildren lists the exited, unreaped children of parent whose command name is comm.
func zombieChildren(parent int, comm string) []int {
	var pids []int
	for _, p := range children(parent) {
		if p.state == "Z" && p.comm == comm {
			pids = append(pids, p.pid)
		}
	}
	return pids
}

type procInfo struct {
	pid   int
	comm  string
	state string
}

// children lists the processes whose parent is parent, from /proc/<pid>/stat.
func children(parent int) []procInfo {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var found []procInfo
	for _, entry := range entries {
		pid, err := strconv.Atoi(entry.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		stat := string(raw)
		open, closing := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
		if open < 0 || closing < open {
			continue
		}
		// After "pid (comm) ": state, ppid, ...
		fields := strings.Fields(stat[closing+1:])
		if len(fields) < 2 || fields[1] != strconv.Itoa(parent) {
			continue
		}
		found = append(found, procInfo{pid: pid, comm: stat[open+1 : closing], state: fields[0]})
	}
	return found
}

// nodePid reads the pid the node wrote into its process context, or 0.
func nodePid(node *tmpnet.Node) int {
	raw, err := os.ReadFile(filepath.Join(node.DataDir, config.DefaultProcessContextFilename))
	if err != nil {
		return 0
	}
	var processContext struct {
		PID int `json:"pid"`
	}
	if json.Unmarshal(raw, &processContext) != nil {
		return 0
	}
	return processContext.PID
}

func (h *harness) node(i int) *tmpnet.Node { return h.network.Nodes[i] }

// client talks to node i's kvvm JSON-RPC endpoint at its current API address.
func (h *harness) client(i int) *kvvmClient {
	return newKvvmClient(fmt.Sprintf("%s/ext/bc/%s/rpc", h.node(i).URI, h.chainID))
}

func (h *harness) clients() []*kvvmClient {
	clients := make([]*kvvmClient, 0, len(h.network.Nodes))
	for i := range h.network.Nodes {
		clients = append(clients, h.client(i))
	}
	return clients
}

// stopNode stops node i the way an operator does (SIGTERM, wait for exit).
func (h *harness) stopNode(ctx context.Context, i int) {
	h.t.Helper()
	if err := h.node(i).Stop(ctx); err != nil {
		h.t.Fatalf("stopping node %d: %v", i+1, err)
	}
}

// terminateNode sends SIGTERM to node i's AvalancheGo process itself (tmpnet's Stop first fetches
// the node's metrics, which never answer once the node's kvvm process is gone) and waits for it
// to exit.
func (h *harness) terminateNode(ctx context.Context, i int, within time.Duration) time.Duration {
	h.t.Helper()
	pid := nodePid(h.node(i))
	if pid == 0 {
		h.t.Fatalf("node %d has no process to stop", i+1)
	}
	began := time.Now()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		h.t.Fatalf("SIGTERM node %d (pid %d): %v", i+1, pid, err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	h.waitGone(waitCtx, pid)
	return time.Since(began)
}

// killNode sends SIGKILL to node i's AvalancheGo process and waits until it is gone.
func (h *harness) killNode(ctx context.Context, i int) {
	h.t.Helper()
	pid := nodePid(h.node(i))
	if pid == 0 {
		h.t.Fatalf("node %d has no process to kill", i+1)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		h.t.Fatalf("SIGKILL node %d (pid %d): %v", i+1, pid, err)
	}
	h.t.Logf("SIGKILLed node %d (pid %d)", i+1, pid)
	h.waitGone(ctx, pid)
}

// killPlugin sends SIGKILL to the kvvm process that node i runs, leaving the node up.
func (h *harness) killPlugin(ctx context.Context, i int) int {
	h.t.Helper()
	nodePID := nodePid(h.node(i))
	pid, err := childRunning(nodePID, h.pluginPath)
	if err != nil {
		h.t.Fatalf("finding node %d's kvvm process: %v", i+1, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		h.t.Fatalf("SIGKILL kvvm (pid %d): %v", pid, err)
	}
	h.t.Logf("SIGKILLed node %d's kvvm process (pid %d)", i+1, pid)
	h.waitGone(ctx, pid)
	return pid
}

// waitGone waits until pid no longer exists (it was reaped, by reapExited or by its parent).
func (h *harness) waitGone(ctx context.Context, pid int) {
	h.t.Helper()
	for {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
			return
		}
		select {
		case <-ctx.Done():
			h.t.Fatalf("process %d still exists: %v", pid, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// childRunning finds the running child of parent whose executable is exe.
func childRunning(parent int, exe string) (int, error) {
	want, err := filepath.EvalSymlinks(exe)
	if err != nil {
		return 0, err
	}
	for _, p := range children(parent) {
		if got, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.pid)); err == nil && got == want && p.state != "Z" {
			return p.pid, nil
		}
	}
	return 0, fmt.Errorf("no child of pid %d runs %s", parent, want)
}

// restartNode starts node i again and waits until it is healthy, which includes its kvvm chain
// having finished bootstrapping.
func (h *harness) restartNode(ctx context.Context, i int) {
	h.t.Helper()
	node := h.node(i)
	if err := h.network.StartNode(ctx, node); err != nil {
		h.t.Fatalf("starting node %d: %v", i+1, err)
	}
	if err := node.WaitForHealthy(ctx); err != nil {
		h.t.Fatalf("node %d not healthy after restart: %v", i+1, err)
	}
}

// createChain creates another kvvm chain with genesis on the running kvvm subnet, whose nodes
// start it without a restart, and waits until the first validatorCount nodes serve its API.
// It returns the chain ID.
func (h *harness) createChain(ctx context.Context, genesis []byte, validatorCount int) string {
	h.t.Helper()
	subnet := h.network.Subnets[0]
	wallet, err := subnet.GetWallet(ctx, h.node(0).URI)
	if err != nil {
		h.t.Fatalf("the subnet's wallet: %v", err)
	}
	vmID, err := ids.FromString(kvvmVMID)
	if err != nil {
		h.t.Fatal(err)
	}
	tx, err := wallet.P().IssueCreateChainTx(subnet.SubnetID, genesis, vmID, nil, "", common.WithContext(ctx))
	if err != nil {
		h.t.Fatalf("creating a chain: %v", err)
	}
	chainID := tx.ID().String()
	for i := 0; i < validatorCount; i++ {
		c := h.chainClient(i, chainID)
		if err := eventually(ctx, 200*time.Millisecond, func() error { return c.call(ctx, "kvvm_chainInfo", nil) }); err != nil {
			h.t.Fatalf("node %d does not serve chain %s: %v", i+1, chainID, err)
		}
	}
	h.t.Logf("chain %s created and served by %d nodes", chainID, validatorCount)
	return chainID
}

// chainClient talks to node i about chain chainID.
func (h *harness) chainClient(i int, chainID string) *kvvmClient {
	return newKvvmClient(fmt.Sprintf("%s/ext/bc/%s/rpc", h.node(i).URI, chainID))
}

// restrictedGenesis is the plugin's default genesis with writing restricted to accounts holding a
// role, admin its first admin.
func (h *harness) restrictedGenesis(admin *account) []byte {
	h.t.Helper()
	base, err := loadGenesis("", "", h.pluginPath)
	if err != nil {
		h.t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(base, &doc); err != nil {
		h.t.Fatal(err)
	}
	doc["access"] = map[string]any{"mode": "restricted", "admins": []string{admin.id()}}
	genesis, err := json.Marshal(doc)
	if err != nil {
		h.t.Fatal(err)
	}
	return genesis
}

// addNode starts a node that tracks the kvvm subnet without validating it.
func (h *harness) addNode(ctx context.Context) int {
	h.t.Helper()
	node := tmpnet.NewNode()
	node.Flags[config.TrackSubnetsKey] = h.network.Subnets[0].SubnetID.String()
	h.network.Nodes = append(h.network.Nodes, node)
	i := len(h.network.Nodes) - 1
	h.restartNode(ctx, i)
	return i
}

// bootstrapFetched sums node i's `bs_fetched` metric for the kvvm chain: the blocks its
// bootstrapper fetched from peers (GetAncestors) since the node process started.
func (h *harness) bootstrapFetched(ctx context.Context, i int) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.node(i).URI+"/ext/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var total float64
	found := false
	scanner := bufio.NewScanner(resp.Body)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		line := scanner.Text()
		if strings.HasPrefix(line, "#") || !strings.Contains(line, "bs_fetched") || !strings.Contains(line, h.chainID) {
			continue
		}
		fields := strings.Fields(line)
		value, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metric line %q: %w", line, err)
		}
		total += value
		found = true
	}
	if err := scanner.Err(); err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("no bs_fetched metric for chain %s at node %d", h.chainID, i+1)
	}
	return total, nil
}

// dumpLogs prints the end of every node's main log and kvvm chain log (the plugin's stderr).
func (h *harness) dumpLogs() {
	for i, node := range h.network.Nodes {
		for _, name := range []string{"main.log", h.chainID + ".log"} {
			path := filepath.Join(node.DataDir, "logs", name)
			h.t.Logf("==== node %d (%s) %s, last lines:\n%s", i+1, node.NodeID, path, tail(path, 60))
		}
	}
}

func tail(path string, lines int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	defer f.Close()
	raw, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	all := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// eventually retries check every interval until it returns nil or the context ends.
func eventually(ctx context.Context, interval time.Duration, check func() error) error {
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; last: %v", ctx.Err(), err)
		case <-time.After(interval):
		}
	}
}
