//go:build e2e

package main

// The end-to-end suite: kvvm under real AvalancheGo nodes. Run it with scripts/e2e.sh, which builds
// the nodes and installs the plugin, then sets:
//
//	AVALANCHEGO_PATH          AvalancheGo v1.14.2
//	KVVM_PLUGIN_DIR           plugin dir holding kvvm under its VMID (protocol 45)
//	KVVM_E2E_OLD_AVALANCHEGO  AvalancheGo v1.14.0
//	KVVM_E2E_OLD_PLUGIN_DIR   plugin dir holding the same kvvm binary set to protocol 44

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestKvvmNetwork runs the checks that share one three-validator network, in order: each later
// check starts from the chain the earlier ones built.
func TestKvvmNetwork(t *testing.T) {
	h := startHarness(t, 3, requireEnv(t, "AVALANCHEGO_PATH"), requireEnv(t, "KVVM_PLUGIN_DIR"))

	t.Run("a/write through node 1, read through nodes 2 and 3", func(t *testing.T) { checkWriteReadEverywhere(t, h) })
	t.Run("b/a thousand transactions from ten accounts over all nodes", func(t *testing.T) { checkThousandTxs(t, h) })
	t.Run("c/conflicting writes to one key: one owner everywhere", func(t *testing.T) { checkConflictingWrites(t, h) })
	t.Run("d/stopped node catches up by bootstrapping", func(t *testing.T) { checkStopRestartCatchUp(t, h) })
	t.Run("e1/SIGKILLed node loses nothing accepted", func(t *testing.T) { checkKilledNode(t, h) })
	t.Run("e2/SIGKILLed kvvm process loses nothing accepted", func(t *testing.T) { checkKilledPlugin(t, h) })
	t.Run("f/a node that joins later bootstraps from genesis", func(t *testing.T) { checkLateJoiner(t, h) })
	t.Run("g/restricted chain: a stranger is refused, an admin grants a writer", func(t *testing.T) { checkRestrictedChain(t, h) })
	t.Run("h/kill loop: SIGKILLs of random nodes and plugins under a write stream", func(t *testing.T) { checkKillLoop(t, h) })
	t.Run("i/a flood of large valid puts: every node keeps accepting blocks", func(t *testing.T) { checkValidLoadFlood(t, h) })
	t.Run("j/strangers' floods: nonce gaps, bad signatures, oversized reads; honest writes stay live", func(t *testing.T) { checkStrangerAttacks(t, h) })
	t.Run("k/new nodes join a chain of 100,000 keys and 2,000 blocks by state sync, also after a kill mid-sync", func(t *testing.T) { checkStateSyncJoin(t, h) })
}

// TestOlderAvalancheGo runs the same kvvm binary under AvalancheGo v1.14.0, which speaks
// rpcchainvm protocol 44, selected by the plugin directory's .kvvm-plugin file.
func TestOlderAvalancheGo(t *testing.T) {
	h := startHarness(t, 1, requireEnv(t, "KVVM_E2E_OLD_AVALANCHEGO"), requireEnv(t, "KVVM_E2E_OLD_PLUGIN_DIR"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var info struct {
		ProtocolVersion uint32 `json:"rpcchainvmProtocol"`
	}
	if err := h.client(0).call(ctx, "kvvm_chainInfo", &info); err != nil {
		t.Fatal(err)
	}
	if info.ProtocolVersion != 44 {
		t.Fatalf("chainInfo reports rpcchainvm protocol %d, want 44", info.ProtocolVersion)
	}
	alice := newAccount("old-node/alice")
	txID, err := alice.submit(ctx, h.client(0), 0, put("old-node/greeting", "hello from v1.14.0"))
	if err != nil {
		t.Fatal(err)
	}
	status := waitAccepted(ctx, t, h.client(0), txID)
	entry := mustGet(ctx, t, h.client(0), "old-node/greeting")
	if entry.Value != "hello from v1.14.0" || entry.Owner != alice.id() || entry.Height != *status.BlockHeight {
		t.Fatalf("read back %+v after acceptance at height %d", entry, *status.BlockHeight)
	}
}

func checkWriteReadEverywhere(t *testing.T, h *harness) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alice := newAccount("a/alice")
	txID, err := alice.submit(ctx, h.client(0), 0, put("a/greeting", "hello, avalanche"))
	if err != nil {
		t.Fatal(err)
	}
	status := waitAccepted(ctx, t, h.client(0), txID)
	for i := 1; i < 3; i++ {
		var entry *entryView
		err := eventually(ctx, 100*time.Millisecond, func() error {
			var err error
			entry, err = h.client(i).get(ctx, "a/greeting")
			if err == nil && entry == nil {
				err = fmt.Errorf("not there yet")
			}
			return err
		})
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
		if entry.Value != "hello, avalanche" || entry.Owner != alice.id() || entry.Height != *status.BlockHeight {
			t.Fatalf("node %d reads %+v; written by %s at height %d", i+1, entry, alice.id(), *status.BlockHeight)
		}
	}
	// The same entry at the same height is not yet the same chain: when every validator builds a
	// block with this one transaction at once (the first block after genesis), nodes that decided
	// different blocks still read equal entries. The block IDs tell them apart.
	assertSameChain(ctx, t, h, 1, *status.BlockHeight)
}

type submitted struct {
	account string
	nonce   uint64
}

func checkThousandTxs(t *testing.T, h *harness) {
	const accounts, perAccount = 10, 100
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start, err := h.client(0).lastAccepted(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clients := h.clients()

	began := time.Now()
	var (
		mu   sync.Mutex
		byID = map[string]submitted{}
		wg   sync.WaitGroup
		errs = make(chan error, accounts)
	)
	for a := 0; a < accounts; a++ {
		wg.Add(1)
		go func(a int) {
			defer wg.Done()
			acct := newAccount(fmt.Sprintf("b/%d", a))
			for n := uint64(0); n < perAccount; n++ {
				// Spread each account's sequence over every node: a node often sees nonce n
				// before gossip brings it n-1.
				c := clients[(a+int(n))%len(clients)]
				key := fmt.Sprintf("b/%d/%03d", a, n)
				txID, err := acct.submit(ctx, c, n, put(key, strconv.FormatUint(n, 10)))
				if err != nil {
					errs <- fmt.Errorf("account %d nonce %d via %s: %w", a, n, c.url, err)
					return
				}
				mu.Lock()
				byID[txID] = submitted{acct.id(), n}
				mu.Unlock()
			}
		}(a)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	submittedIn := time.Since(began)

	for a := 0; a < accounts; a++ {
		acct := newAccount(fmt.Sprintf("b/%d", a))
		for i, c := range clients {
			err := eventually(ctx, 200*time.Millisecond, func() error {
				n, err := c.nonce(ctx, acct.id())
				if err == nil && n.Accepted != perAccount {
					err = fmt.Errorf("account %d: %d of %d accepted", a, n.Accepted, perAccount)
				}
				return err
			})
			if err != nil {
				t.Fatalf("node %d: %v", i+1, err)
			}
		}
	}
	acceptedIn := time.Since(began)

	tip := waitConverged(ctx, t, h)
	// Every transaction exactly once, each account's nonces in order along the chain.
	seen := map[string]bool{}
	nextNonce := map[string]uint64{}
	blocks := 0
	for height := start.Height + 1; height <= tip.Height; height++ {
		block, err := h.client(0).blockByHeight(ctx, height)
		if err != nil || block == nil {
			t.Fatalf("block %d: %v", height, err)
		}
		blocks++
		for _, txID := range block.TxIDs {
			s, ok := byID[txID]
			if !ok {
				continue
			}
			if seen[txID] {
				t.Fatalf("tx %s included twice", txID)
			}
			seen[txID] = true
			if s.nonce != nextNonce[s.account] {
				t.Fatalf("block %d carries nonce %d of %s, expected %d next", height, s.nonce, s.account, nextNonce[s.account])
			}
			nextNonce[s.account]++
		}
	}
	if len(seen) != accounts*perAccount {
		t.Fatalf("%d of %d transactions found in blocks %d..%d", len(seen), accounts*perAccount, start.Height+1, tip.Height)
	}
	assertSameChain(ctx, t, h, start.Height+1, tip.Height)
	t.Logf("1000 txs: submitted in %s, accepted on all nodes after %s, in %d blocks (%.0f tx/s end to end)",
		submittedIn.Round(time.Millisecond), acceptedIn.Round(time.Millisecond), blocks, float64(accounts*perAccount)/acceptedIn.Seconds())

	// Spot-check values through every node.
	keys := []string{"b/0/000", "b/4/050", "b/9/099"}
	for i, c := range clients {
		entries, err := c.getMany(ctx, keys)
		if err != nil {
			t.Fatal(err)
		}
		for k, entry := range entries {
			if entry == nil {
				t.Fatalf("node %d lacks %s", i+1, keys[k])
			}
		}
	}
}

func checkConflictingWrites(t *testing.T, h *harness) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const key = "c/contested"
	xavier, yolanda := newAccount("c/xavier"), newAccount("c/yolanda")
	values := map[string]string{xavier.id(): "xavier's", yolanda.id(): "yolanda's"}

	type result struct {
		txID string
		err  error
	}
	writers := []struct {
		acct *account
		node int
	}{{xavier, 0}, {yolanda, 2}}
	results := make([]result, len(writers))
	var wg sync.WaitGroup
	for i, p := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			txID, err := p.acct.submit(ctx, h.client(p.node), 0, put(key, values[p.acct.id()]))
			results[i] = result{txID, err}
		}()
	}
	wg.Wait()

	// Each node admitted its writer's transaction before seeing the other, or refused it
	// (1007) because gossip was faster; either way exactly one may win.
	var winners []string
	for i, r := range results {
		writer, node := writers[i].acct, writers[i].node
		if r.err != nil {
			if errorCode(r.err) != 1007 {
				t.Fatalf("%s's write: %v", writer.name, r.err)
			}
			continue
		}
		var final txStatusView
		err := eventually(ctx, 100*time.Millisecond, func() error {
			var err error
			final, err = h.client(node).txStatus(ctx, r.txID)
			if err == nil && final.Status == "pending" {
				err = fmt.Errorf("still pending")
			}
			return err
		})
		if err != nil {
			t.Fatalf("%s's tx %s: %v", writer.name, r.txID, err)
		}
		if final.Status == "accepted" {
			winners = append(winners, writer.id())
		} else if final.Reason == nil {
			t.Fatalf("%s's tx is %s without a reason", writer.name, final.Status)
		} else {
			t.Logf("%s's tx %s: %s", writer.name, final.Status, *final.Reason)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d writes accepted, want exactly 1", len(winners))
	}
	winner := winners[0]
	waitConverged(ctx, t, h)
	for i, c := range h.clients() {
		entry := mustGet(ctx, t, c, key)
		if entry.Owner != winner || entry.Value != values[winner] {
			t.Fatalf("node %d: %s = %q owned by %s; winner %s", i+1, key, entry.Value, entry.Owner, winner)
		}
	}
}

func checkStopRestartCatchUp(t *testing.T, h *harness) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const victim = 2
	before, err := h.client(victim).lastAccepted(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.stopNode(ctx, victim)

	writer := newAccount("d/writer")
	// Ten rounds, each waiting for its block, so that node 3 misses at least ten blocks.
	for n := uint64(0); n < 30; n++ {
		c := h.client(int(n % 2))
		txID, err := writer.submit(ctx, c, n, put(fmt.Sprintf("d/%02d", n), "while node 3 was down"))
		if err != nil {
			t.Fatal(err)
		}
		if n%3 == 2 {
			waitAccepted(ctx, t, c, txID)
		}
	}
	live, err := h.client(0).lastAccepted(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if live.Height < before.Height+10 {
		t.Fatalf("nodes 1 and 2 advanced from %d to %d without node 3; expected at least 10 blocks", before.Height, live.Height)
	}

	h.restartNode(ctx, victim)
	fetched, err := h.bootstrapFetched(ctx, victim)
	if err != nil {
		t.Fatal(err)
	}
	if fetched < float64(live.Height-before.Height) {
		t.Fatalf("node 3 fetched %v blocks while bootstrapping; it missed %d", fetched, live.Height-before.Height)
	}
	tip := waitConverged(ctx, t, h)
	assertSameChain(ctx, t, h, before.Height, tip.Height)
	entry := mustGet(ctx, t, h.client(victim), "d/29")
	if entry.Owner != writer.id() {
		t.Fatalf("node 3 reads d/29 as %+v", entry)
	}
	t.Logf("node 3 was %d blocks behind; bootstrapping fetched %v blocks", live.Height-before.Height, fetched)
}

// writeStream writes one key per transaction from one account through the given nodes until
// stopped, retrying through the next node when one does not answer.
type writeStream struct {
	acct    *account
	clients []*kvvmClient
	prefix  string

	stop chan struct{}
	done chan struct{}
	sent uint64
	err  error
}

func startWriteStream(ctx context.Context, acct *account, prefix string, clients ...*kvvmClient) *writeStream {
	s := &writeStream{acct: acct, clients: clients, prefix: prefix, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for n := uint64(0); ; {
			select {
			case <-s.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			c := s.clients[n%uint64(len(s.clients))]
			_, err := acct.submit(ctx, c, n, put(fmt.Sprintf("%s/%04d", prefix, n), "streamed"))
			if err != nil {
				if ctx.Err() != nil {
					s.err = err
					return
				}
				continue // that node is down: the next round goes elsewhere
			}
			n++
			s.sent = n
		}
	}()
	return s
}

func (s *writeStream) finish() (uint64, error) {
	close(s.stop)
	<-s.done
	return s.sent, s.err
}

// checkKilledNode SIGKILLs node 3 while a stream of writes goes through nodes 1 and 2.
func checkKilledNode(t *testing.T, h *harness) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	checkSurvivesKill(ctx, t, h, "e1", func() { h.killNode(ctx, 2) })
}

// checkKilledPlugin SIGKILLs only node 3's kvvm process; the node is then restarted.
func checkKilledPlugin(t *testing.T, h *harness) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	checkSurvivesKill(ctx, t, h, "e2", func() {
		h.killPlugin(ctx, 2)
		// AvalancheGo v1.14.2 does not notice: the chain's calls to the dead plugin block, and
		// so does its shutdown, until the 60 s consensus shutdown timeout. An operator restarts
		// the node; that is what this measures.
		took := h.terminateNode(ctx, 2, 3*time.Minute)
		t.Logf("node 3 took %s to stop after its kvvm process died", took.Round(time.Second))
	})
}

func checkSurvivesKill(ctx context.Context, t *testing.T, h *harness, prefix string, kill func()) {
	const victim = 2
	writer := newAccount(prefix + "/writer")
	stream := startWriteStream(ctx, writer, prefix, h.client(0), h.client(1))

	// Let the victim accept part of the stream, then remember what it had accepted.
	err := eventually(ctx, 50*time.Millisecond, func() error {
		n, err := h.client(victim).nonce(ctx, writer.id())
		if err == nil && n.Accepted < 10 {
			err = fmt.Errorf("node 3 accepted %d of the stream", n.Accepted)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	before, err := h.client(victim).lastAccepted(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kill()
	time.Sleep(2 * time.Second) // the stream goes on without node 3
	h.restartNode(ctx, victim)
	time.Sleep(1 * time.Second) // and on with node 3 back
	sent, err := stream.finish()
	if err != nil {
		t.Fatal(err)
	}
	if err := waitAllAccepted(ctx, h, writer, sent); err != nil {
		t.Fatal(err)
	}
	tip := waitConverged(ctx, t, h)
	assertSameChain(ctx, t, h, 1, tip.Height)
	kept, err := h.client(victim).blockByHeight(ctx, before.Height)
	if err != nil {
		t.Fatal(err)
	}
	if kept == nil || kept.ID != before.ID {
		t.Fatalf("node 3 had accepted %s at height %d before the kill; after the restart it has %+v", before.ID, before.Height, kept)
	}
	entries, err := h.client(victim).getMany(ctx, []string{fmt.Sprintf("%s/%04d", prefix, 0), fmt.Sprintf("%s/%04d", prefix, sent-1)})
	if err != nil {
		t.Fatal(err)
	}
	for _, entry := range entries {
		if entry == nil || entry.Owner != writer.id() {
			t.Fatalf("node 3 lost a streamed write: %+v", entries)
		}
	}
	t.Logf("%d writes streamed across the kill; all accepted on every node, chains equal up to %d", sent, tip.Height)
}

// waitAllAccepted waits until every node has accepted the first sent nonces of acct, and no more.
func waitAllAccepted(ctx context.Context, h *harness, acct *account, sent uint64) error {
	return eventually(ctx, 200*time.Millisecond, func() error {
		for i, c := range h.clients() {
			n, err := c.nonce(ctx, acct.id())
			if err != nil {
				return err
			}
			if n.Accepted != sent {
				return fmt.Errorf("node %d: %d of %d accepted", i+1, n.Accepted, sent)
			}
		}
		return nil
	})
}

func checkLateJoiner(t *testing.T, h *harness) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tip, err := h.client(0).lastAccepted(ctx)
	if err != nil {
		t.Fatal(err)
	}
	joiner := h.addNode(ctx)
	fetched, err := h.bootstrapFetched(ctx, joiner)
	if err != nil {
		t.Fatal(err)
	}
	if fetched < float64(tip.Height) {
		t.Fatalf("the new node fetched %v blocks; the chain has %d", fetched, tip.Height)
	}
	converged := waitConverged(ctx, t, h)
	assertSameChain(ctx, t, h, 1, converged.Height)
	entry := mustGet(ctx, t, h.client(joiner), "a/greeting")
	if entry.Value != "hello, avalanche" {
		t.Fatalf("the new node reads a/greeting as %+v", entry)
	}
	t.Logf("a new node bootstrapped %d blocks (fetched %v)", converged.Height, fetched)
}

// checkRestrictedChain creates a second kvvm chain whose genesis restricts writing, on the same
// validators: a stranger's write is refused by every node, the admin grants it the enabled role
// through node 2, and its write through node 3 is accepted and read with the same role, usage
// and state root on every validator.
func checkRestrictedChain(t *testing.T, h *harness) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	admin, writer := newAccount("g/admin"), newAccount("g/writer")
	chainID := h.createChain(ctx, h.restrictedGenesis(admin), 3)
	clients := []*kvvmClient{h.chainClient(0, chainID), h.chainClient(1, chainID), h.chainClient(2, chainID)}

	var info struct {
		Access struct {
			Mode string `json:"mode"`
		} `json:"access"`
	}
	if err := clients[0].call(ctx, "kvvm_chainInfo", &info); err != nil {
		t.Fatal(err)
	}
	if info.Access.Mode != "restricted" {
		t.Fatalf("chainInfo reports access mode %q, want restricted", info.Access.Mode)
	}
	for i, c := range clients {
		_, err := writer.submit(ctx, c, 0, put("g/key", "from a stranger"))
		if errorCode(err) != codeNotAllowed {
			t.Fatalf("node %d answered a stranger's write with %v, want code %d", i+1, err, codeNotAllowed)
		}
	}

	grant, err := admin.submit(ctx, clients[1], 0, setRole(writer.id(), "enabled"))
	if err != nil {
		t.Fatal(err)
	}
	waitAccepted(ctx, t, clients[1], grant)
	// Node 3 admits against its own preferred state: retry until the grant's block reached it.
	var txID string
	err = eventually(ctx, 100*time.Millisecond, func() error {
		var err error
		txID, err = writer.submit(ctx, clients[2], 0, put("g/key", "granted"))
		if err != nil && errorCode(err) != codeNotAllowed {
			t.Fatalf("node 3 refused the granted writer: %v", err)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	status := waitAccepted(ctx, t, clients[2], txID)

	var roots []string
	for i, c := range clients {
		var entry *entryView
		if err := eventually(ctx, 100*time.Millisecond, func() error {
			var err error
			entry, err = c.get(ctx, "g/key")
			if err == nil && entry == nil {
				err = fmt.Errorf("not there yet")
			}
			return err
		}); err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
		if entry.Value != "granted" || entry.Owner != writer.id() {
			t.Fatalf("node %d reads %+v", i+1, entry)
		}
		view, err := c.account(ctx, writer.id())
		if err != nil {
			t.Fatal(err)
		}
		if view.Role != "enabled" || view.KeysUsed != 1 || view.BytesUsed != uint64(len("g/key")+len("granted")) || view.Nonce != 1 {
			t.Fatalf("node %d reports the writer as %+v", i+1, view)
		}
		block, err := c.blockByHeight(ctx, *status.BlockHeight)
		if err != nil || block == nil {
			t.Fatalf("node %d: block %d: %v", i+1, *status.BlockHeight, err)
		}
		roots = append(roots, block.StateRoot)
	}
	if roots[0] != roots[1] || roots[1] != roots[2] {
		t.Fatalf("state roots at height %d differ: %v", *status.BlockHeight, roots)
	}
}

func waitAccepted(ctx context.Context, t *testing.T, c *kvvmClient, txID string) txStatusView {
	t.Helper()
	var status txStatusView
	err := eventually(ctx, 100*time.Millisecond, func() error {
		var err error
		status, err = c.txStatus(ctx, txID)
		if err != nil {
			return err
		}
		switch status.Status {
		case "accepted":
			return nil
		case "pending", "unknown":
			return fmt.Errorf("tx %s is %s", txID, status.Status)
		}
		reason := ""
		if status.Reason != nil {
			reason = *status.Reason
		}
		t.Fatalf("tx %s is %s: %s", txID, status.Status, reason)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return status
}

func mustGet(ctx context.Context, t *testing.T, c *kvvmClient, key string) *entryView {
	t.Helper()
	entry, err := c.get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if entry == nil {
		t.Fatalf("%s: %s is absent", c.url, key)
	}
	return entry
}

// waitConverged waits until every node reports the same last accepted block.
func waitConverged(ctx context.Context, t *testing.T, h *harness) blockRef {
	t.Helper()
	var tip blockRef
	err := eventually(ctx, 200*time.Millisecond, func() error {
		tips := map[string]uint64{}
		for _, c := range h.clients() {
			ref, err := c.lastAccepted(ctx)
			if err != nil {
				return err
			}
			tips[ref.ID] = ref.Height
			tip = ref
		}
		if len(tips) != 1 {
			return fmt.Errorf("nodes disagree on the last accepted block: %v", tips)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tip
}

// assertSameChain checks that every node has the same block ID and state root at each height.
func assertSameChain(ctx context.Context, t *testing.T, h *harness, from, to uint64) {
	t.Helper()
	clients := h.clients()
	for height := max(from, 1); height <= to; height++ {
		var want *blockView
		for i, c := range clients {
			block, err := c.blockByHeight(ctx, height)
			if err != nil {
				t.Fatal(err)
			}
			if block == nil {
				t.Fatalf("node %d has no block at height %d", i+1, height)
			}
			if want == nil {
				want = block
				continue
			}
			if block.ID != want.ID || block.StateRoot != want.StateRoot {
				t.Fatalf("height %d: node 1 has %s (root %s), node %d has %s (root %s)",
					height, want.ID, want.StateRoot, i+1, block.ID, block.StateRoot)
			}
		}
	}
}
