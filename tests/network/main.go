// Command kvvm-network starts and stops a local AvalancheGo network (tmpnet, one process per
// node) whose validators run a kvvm subnet and chain.
//
//	kvvm-network [start] --avalanchego-path BIN --plugin-dir DIR [--nodes 3] [--kvvm BIN | --genesis FILE]
//	                     [--chain-config JSON] [--subnet-config JSON] [--root-dir DIR] [--out FILE] [--wait]
//	kvvm-network add-node --network-dir DIR [--out FILE]
//	kvvm-network stop --network-dir DIR
//
// start prints, per node, its node ID and the chain's JSON-RPC URL, then the network directory
// and a first write and read to try; --out writes the same as JSON. Without --wait the nodes keep
// running after this program exits (stop them with `stop`); with --wait it stays in the foreground
// and stops the network on SIGINT/SIGTERM.
//
// add-node starts one more node in a running network started by start, makes it a validator of the
// primary network and of the kvvm subnet, waits until it is healthy, and prints the network's nodes
// as start does; --out writes the same JSON as start's --out. The node is a permanent member of the
// network: `stop` (or start --wait on SIGINT) stops it with the others.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/ava-labs/avalanchego/config"
	avagenesis "github.com/ava-labs/avalanchego/genesis"
	"github.com/ava-labs/avalanchego/ids"
	"github.com/ava-labs/avalanchego/tests/fixture/tmpnet"
	"github.com/ava-labs/avalanchego/utils/constants"
	"github.com/ava-labs/avalanchego/utils/logging"
	"github.com/ava-labs/avalanchego/vms/platformvm"
	"github.com/ava-labs/avalanchego/vms/platformvm/txs"
	"github.com/ava-labs/avalanchego/vms/secp256k1fx"
	"github.com/ava-labs/avalanchego/wallet/subnet/primary/common"
)

const (
	// cb58 of "kvvm" right-padded with zeros to 32 bytes (`kvvm vm-id`).
	kvvmVMID   = "pKzWfwFJiwYE8pfXv6iF7r9E8nG68tv8uQuTKUA9Wmv5yUEmM"
	subnetName = "kvvm"
	owner      = "kvvm"
)

// Summary is what --out receives.
type Summary struct {
	NetworkDir string        `json:"networkDir"`
	SubnetID   string        `json:"subnetID"`
	ChainID    string        `json:"chainID"`
	VMID       string        `json:"vmID"`
	Nodes      []NodeSummary `json:"nodes"`
}

type NodeSummary struct {
	NodeID  string `json:"nodeID"`
	URI     string `json:"uri"`
	RPCURL  string `json:"rpcURL"`
	ChainID string `json:"chainID"`
}

func main() {
	args := os.Args[1:]
	cmd := "start"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "start":
		err = start(args)
	case "add-node":
		err = addNode(args)
	case "stop":
		err = stop(args)
	case "help":
		fmt.Println("usage: kvvm-network [start|add-node|stop] [flags]; run `kvvm-network <command> -h`")
	default:
		err = fmt.Errorf("unknown command %q (expected start, add-node or stop)", cmd)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kvvm-network %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

// newLogger sends tmpnet's log to stderr so that stdout holds only the summary.
func newLogger(level string) (logging.Logger, error) {
	lvl, err := logging.ToLevel(level)
	if err != nil {
		return nil, err
	}
	format, err := logging.ToFormat(logging.AutoString, os.Stderr.Fd())
	if err != nil {
		return nil, err
	}
	return logging.NewLogger("", logging.NewWrappedCore(lvl, os.Stderr, format.ConsoleEncoder())), nil
}

func envOr(names ...string) string {
	for _, name := range names {
		if v := os.Getenv(name); v != "" {
			return v
		}
	}
	return ""
}

func start(args []string) error {
	fl := flag.NewFlagSet("start", flag.ContinueOnError)
	avalanchegoPath := fl.String("avalanchego-path", envOr("AVALANCHEGO_PATH"), "AvalancheGo binary (env AVALANCHEGO_PATH)")
	pluginDir := fl.String("plugin-dir", envOr("KVVM_PLUGIN_DIR", "AVAGO_PLUGIN_DIR"), "plugin directory holding the kvvm binary named by its VMID (env KVVM_PLUGIN_DIR, AVAGO_PLUGIN_DIR)")
	nodeCount := fl.Int("nodes", 3, "number of validator nodes, all validating the kvvm subnet")
	kvvmPath := fl.String("kvvm", "", "kvvm binary whose genesis subcommand writes the genesis; default: the plugin in --plugin-dir")
	genesisPath := fl.String("genesis", "", "genesis file for the kvvm chain (instead of running kvvm genesis)")
	chainConfig := fl.String("chain-config", `{"logLevel":"info"}`, "kvvm chain config (JSON), handed to the VM as config_bytes")
	subnetConfig := fl.String("subnet-config", defaultSubnetConfig, "AvalancheGo subnet config of the kvvm subnet (JSON); the default lets 2 of 3 validators keep the chain going")
	vmIDStr := fl.String("vm-id", kvvmVMID, "VMID (cb58) of the chain's VM")
	rootDir := fl.String("root-dir", envOr(tmpnet.RootNetworkDirEnvName), "directory under which the network directory is created (env "+tmpnet.RootNetworkDirEnvName+"; default ~/.tmpnet/networks)")
	out := fl.String("out", "", "write the network summary as JSON to this file")
	keyFile := fl.String("key", "", "key file to show in the suggested first write")
	cli := fl.String("cli", "", "kvvm command line for the suggested commands, one that finds this network without --rpc (scripts/run-network.sh passes the binary it built); default: kvvm, with --rpc")
	nodeLogLevel := fl.String("node-log-level", "info", "AvalancheGo log level of the nodes (tmpnet's e2e default is debug)")
	nodeFlags := fl.String("node-flags", "{}", `further AvalancheGo flags for every node, a JSON object of strings, e.g. {"throttler-inbound-bandwidth-refill-rate":"4194304"}`)
	logLevel := fl.String("log-level", "info", "log level of this program (tmpnet's progress, on stderr)")
	timeout := fl.Duration("timeout", 5*time.Minute, "time allowed for the network to start and the chain to be created")
	wait := fl.Bool("wait", false, "stay in the foreground until SIGINT/SIGTERM, then stop the network")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fl.Args())
	}

	log, err := newLogger(*logLevel)
	if err != nil {
		return err
	}
	if *nodeCount < 1 {
		return errors.New("--nodes must be at least 1")
	}
	if *avalanchegoPath == "" {
		return errors.New("--avalanchego-path (or AVALANCHEGO_PATH) is required")
	}
	if *pluginDir == "" {
		return errors.New("--plugin-dir (or KVVM_PLUGIN_DIR) is required")
	}
	// The node process is started from the network directory: make paths absolute.
	for _, p := range []*string{avalanchegoPath, pluginDir, kvvmPath, genesisPath, rootDir, out} {
		if *p != "" {
			abs, err := filepath.Abs(*p)
			if err != nil {
				return err
			}
			*p = abs
		}
	}
	vmID, err := ids.FromString(*vmIDStr)
	if err != nil {
		return fmt.Errorf("--vm-id: %w", err)
	}
	pluginPath := filepath.Join(*pluginDir, vmID.String())
	// tmpnet only warns about a missing plugin; the chain would then never come up.
	if info, err := os.Stat(pluginPath); err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		return fmt.Errorf("no executable plugin at %s (run scripts/install-plugin.sh)", pluginPath)
	}
	if !json.Valid([]byte(*chainConfig)) {
		return fmt.Errorf("--chain-config is not valid JSON: %s", *chainConfig)
	}
	subnetConfigMap, err := parseSubnetConfig(*subnetConfig)
	if err != nil {
		return fmt.Errorf("--subnet-config: %w", err)
	}
	extraFlags := tmpnet.FlagsMap{}
	if err := json.Unmarshal([]byte(*nodeFlags), &extraFlags); err != nil {
		return fmt.Errorf("--node-flags is not a JSON object of strings: %w", err)
	}

	genesis, err := loadGenesis(*genesisPath, *kvvmPath, pluginPath)
	if err != nil {
		return err
	}

	network := newNetwork(log, networkSpec{
		nodeCount:       *nodeCount,
		avalanchegoPath: *avalanchegoPath,
		pluginDir:       *pluginDir,
		vmID:            vmID,
		genesis:         genesis,
		chainConfig:     *chainConfig,
		subnetConfig:    subnetConfigMap,
		nodeLogLevel:    *nodeLogLevel,
		nodeFlags:       extraFlags,
	})

	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	// Stop early on SIGINT/SIGTERM during start, too.
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	if err := bootstrapNetwork(ctx, log, network, *rootDir); err != nil {
		return err
	}
	elapsed := time.Since(began)
	if err := linkLatest(network.Dir); err != nil {
		fmt.Fprintf(os.Stderr, "kvvm-network: %v\n", err)
	}

	summary, err := summarize(network, vmID)
	if err != nil {
		return err
	}
	printSummary(summary, firstCommands(summary, *cli, *keyFile), elapsed)
	if *out != "" {
		if err := writeJSON(*out, summary); err != nil {
			return err
		}
		fmt.Printf("summary: %s\n", *out)
	}

	if !*wait {
		fmt.Printf("stop with: kvvm-network stop --network-dir %s\n", network.Dir)
		return nil
	}
	stopSignals()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	fmt.Println("running; press Ctrl-C (or send SIGTERM) to stop the network")
	sig := <-sigs
	signal.Stop(sigs)
	fmt.Fprintf(os.Stderr, "kvvm-network: %s: stopping the network\n", sig)
	stopCtx, stopCancel := context.WithTimeout(context.Background(), tmpnet.DefaultNetworkTimeout)
	defer stopCancel()
	if err := network.Stop(stopCtx); err != nil {
		return err
	}
	fmt.Printf("stopped network %s\n", network.Dir)
	return nil
}

// networkSpec is what a kvvm network is made of; newNetwork turns it into tmpnet's description.
type networkSpec struct {
	nodeCount       int
	avalanchegoPath string
	pluginDir       string
	vmID            ids.ID
	genesis         []byte
	chainConfig     string
	subnetConfig    tmpnet.ConfigMap
	nodeLogLevel    string
	nodeFlags       tmpnet.FlagsMap
}

// defaultSubnetConfig sets the kvvm subnet's Snowman parameters for a few equal validators.
// AvalancheGo samples k units of stake per poll, so with three equal validators each answers for a
// binomial share of the k samples, and a poll succeeds when the validators preferring one block
// answer for at least alpha of them. Two properties decide the parameters:
//   - safety: one validator alone must (almost) never reach alpha, or a poll can move another
//     node's preference with no majority behind it. With k=20 and alpha=11 that happened in 3.8%
//     of polls, and a CI run forked the chain at its first block (docs/findings.md);
//   - liveness with one of three stopped: two validators must reach alpha in most polls.
//     AvalancheGo's defaults (k=20, alpha=15) manage it in 30% of polls, and with beta=20 the
//     chain stalls.
//
// A larger k narrows each validator's share around its stake: with k=200 and alpha=114 (57%) one
// validator reaches alpha with probability 6e-12 and two with 0.998 (snowparams_test.go computes
// both). alpha/k stays below the 7/12 at which AvalancheGo's health check would call two of
// three connected validators unhealthy. Sampling 200 units needs a total subnet weight of at
// least 200; tmpnet gives each validator 49,463. In v1.14.x `snowParameters` is not merged with
// the defaults, so every field is given.
const defaultSubnetConfig = `{"snowParameters": {"k": 200, "alphaPreference": 114, "alphaConfidence": 114,
  "beta": 10, "concurrentRepolls": 4, "optimalProcessing": 10, "maxOutstandingItems": 256,
  "maxItemProcessingTime": 30000000000}}`

func parseSubnetConfig(text string) (tmpnet.ConfigMap, error) {
	var config tmpnet.ConfigMap
	if err := json.Unmarshal([]byte(text), &config); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	return config, nil
}

// newNetwork describes nodeCount validator nodes that all validate one subnet running one kvvm chain.
func newNetwork(log logging.Logger, spec networkSpec) *tmpnet.Network {
	nodes := tmpnet.NewNodesOrPanic(spec.nodeCount)
	flags := tmpnet.DefaultE2EFlags()
	flags[config.LogLevelKey] = spec.nodeLogLevel
	if limit := fdLimitFlag(); limit != "" {
		log.Info("lowering the nodes' --fd-limit to the hard RLIMIT_NOFILE", zap.String("fdLimit", limit))
		flags[config.FdLimitKey] = limit
	}
	for key, value := range spec.nodeFlags {
		flags[key] = value
	}
	return &tmpnet.Network{
		Owner:        owner,
		Nodes:        nodes,
		DefaultFlags: flags,
		// tmpnet's default C-Chain config logs at trace level; that is only noise here.
		PrimaryChainConfigs: map[string]tmpnet.ConfigMap{"C": {"log-level": spec.nodeLogLevel}},
		DefaultRuntimeConfig: tmpnet.NodeRuntimeConfig{
			Process: &tmpnet.ProcessRuntimeConfig{
				AvalancheGoPath: spec.avalanchegoPath,
				PluginDir:       spec.pluginDir,
			},
		},
		Subnets: []*tmpnet.Subnet{{
			Name:         subnetName,
			Config:       spec.subnetConfig,
			ValidatorIDs: tmpnet.NodesToIDs(nodes...),
			Chains: []*tmpnet.Chain{{
				VMID:    spec.vmID,
				Genesis: spec.genesis,
				Config:  spec.chainConfig,
				// tmpnet runs `<plugin> version-json` and requires its "rpcchainvm" to equal the
				// node's (`avalanchego --version-json`).
				VersionArgs: []string{"version-json"},
			}},
		}},
	}
}

// bootstrapNetwork starts the network, creates the subnet and chain, and waits until every node is
// healthy. On failure the nodes are stopped.
func bootstrapNetwork(ctx context.Context, log logging.Logger, network *tmpnet.Network, rootDir string) error {
	if err := tmpnet.BootstrapNewNetwork(ctx, log, network, rootDir); err != nil {
		if network.Dir != "" {
			fmt.Fprintf(os.Stderr, "kvvm-network: start failed; stopping the nodes of %s (logs: %s/<nodeID>/logs)\n", network.Dir, network.Dir)
			stopCtx, stopCancel := context.WithTimeout(context.Background(), tmpnet.DefaultNetworkTimeout)
			defer stopCancel()
			if stopErr := network.Stop(stopCtx); stopErr != nil {
				fmt.Fprintf(os.Stderr, "kvvm-network: stopping: %v\n", stopErr)
			}
		}
		return fmt.Errorf("starting the network: %w", err)
	}
	// With a single node, Bootstrap returns once the restarted node serves its API, before it is
	// healthy (tmpnet network.go Bootstrap); wait for every node, which is a no-op otherwise.
	if err := tmpnet.WaitForHealthyNodes(ctx, log, network.Nodes); err != nil {
		return fmt.Errorf("waiting for healthy nodes (the network keeps running; stop it with: kvvm-network stop --network-dir %s): %w", network.Dir, err)
	}
	return nil
}

func stop(args []string) error {
	fl := flag.NewFlagSet("stop", flag.ContinueOnError)
	networkDir := fl.String("network-dir", envOr(tmpnet.NetworkDirEnvName), "network directory (env "+tmpnet.NetworkDirEnvName+")")
	logLevel := fl.String("log-level", "info", "log level of this program")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *networkDir == "" {
		return errors.New("--network-dir is required")
	}
	log, err := newLogger(*logLevel)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), tmpnet.DefaultNetworkTimeout)
	defer cancel()
	if err := tmpnet.StopNetwork(ctx, log, *networkDir); err != nil {
		return err
	}
	fmt.Printf("stopped network %s\n", *networkDir)
	return nil
}

// What a node added by add-node stakes on the primary network: the least the P-chain of a network
// started by start accepts (AvalancheGo's staking defaults for a network other than Mainnet and
// Fuji, which start does not change).
var (
	addedNodeStake  = avagenesis.LocalParams.MinValidatorStake
	addedNodeShares = avagenesis.LocalParams.MinDelegationFee
	// A day short of the longest staking period, in case the P-chain's clock lags this one.
	addedNodePeriod = avagenesis.LocalParams.MaxStakeDuration - 24*time.Hour
)

func addNode(args []string) error {
	fl := flag.NewFlagSet("add-node", flag.ContinueOnError)
	networkDir := fl.String("network-dir", envOr(tmpnet.NetworkDirEnvName), "directory of a running network started by start (env "+tmpnet.NetworkDirEnvName+")")
	out := fl.String("out", "", "write the network summary, the new node included, as JSON to this file (as start --out does)")
	logLevel := fl.String("log-level", "info", "log level of this program (tmpnet's progress, on stderr)")
	timeout := fl.Duration("timeout", 5*time.Minute, "time allowed for the node to start, bootstrap and become a validator")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fl.Args())
	}
	if *networkDir == "" {
		return errors.New("--network-dir is required")
	}
	log, err := newLogger(*logLevel)
	if err != nil {
		return err
	}

	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	network, err := tmpnet.ReadNetwork(ctx, log, *networkDir)
	if err != nil {
		return err
	}
	subnet, err := kvvmSubnet(network)
	if err != nil {
		return err
	}
	vmID := subnet.Chains[0].VMID
	before, err := summarize(network, vmID)
	if err != nil {
		return fmt.Errorf("%s: %w (is the network running?)", network.Dir, err)
	}
	// The P-chain transactions go through node 1.
	apiURI := before.Nodes[0].URI

	node, err := startNewNode(ctx, log, network, subnet)
	if err != nil {
		return err
	}
	if err := makeValidator(ctx, log, network, subnet, apiURI, node); err != nil {
		return fmt.Errorf("node %s runs, but making it a validator failed (stop the network with: kvvm-network stop --network-dir %s): %w", node.NodeID, network.Dir, err)
	}
	if err := node.WaitForHealthy(ctx); err != nil {
		return fmt.Errorf("node %s, now a validator: %w", node.NodeID, err)
	}
	elapsed := time.Since(began)

	summary, err := summarize(network, vmID)
	if err != nil {
		return err
	}
	fmt.Printf("node %s added in %.0f s: a validator of subnet %s, chain %s\n", node.NodeID, elapsed.Seconds(), summary.SubnetID, summary.ChainID)
	printNodes(summary)
	if *out != "" {
		if err := writeJSON(*out, summary); err != nil {
			return err
		}
		fmt.Printf("summary: %s\n", *out)
	}
	return nil
}

// kvvmSubnet is the network's kvvm subnet, which must have its chain.
func kvvmSubnet(network *tmpnet.Network) (*tmpnet.Subnet, error) {
	subnet := network.GetSubnet(subnetName)
	if subnet == nil || len(subnet.Chains) == 0 || subnet.Chains[0].ChainID == ids.Empty {
		return nil, fmt.Errorf("%s has no %s subnet with a chain (was it started by kvvm-network start?)", network.Dir, subnetName)
	}
	if subnet.OwningKey == nil {
		return nil, fmt.Errorf("%s does not hold the key that owns the %s subnet", network.Dir, subnetName)
	}
	return subnet, nil
}

// startNewNode starts a permanent (not ephemeral) node that tracks the kvvm subnet, and waits until
// it is healthy: its kvvm chain bootstrapped from the validators. Its flags are the network's
// defaults and it gets the network's chain and subnet configs, as every node does when tmpnet
// starts it. A node that does not come up is stopped (its directory, with its logs, stays).
func startNewNode(ctx context.Context, log logging.Logger, network *tmpnet.Network, subnet *tmpnet.Subnet) (*tmpnet.Node, error) {
	node := tmpnet.NewNode()
	node.Flags[config.TrackSubnetsKey] = subnet.SubnetID.String()
	network.Nodes = append(network.Nodes, node)
	if err := network.StartNode(ctx, node); err != nil {
		return nil, fmt.Errorf("starting a node: %w", err)
	}
	log.Info("waiting for the new node to bootstrap", zap.Stringer("nodeID", node.NodeID))
	if err := node.WaitForHealthy(ctx); err != nil {
		stopCtx, stopCancel := context.WithTimeout(context.Background(), tmpnet.DefaultNetworkTimeout)
		defer stopCancel()
		if stopErr := node.Stop(stopCtx); stopErr != nil {
			fmt.Fprintf(os.Stderr, "kvvm-network: stopping node %s: %v\n", node.NodeID, stopErr)
		}
		return nil, fmt.Errorf("node %s did not become healthy and was stopped (logs: %s/logs): %w", node.NodeID, node.DataDir, err)
	}
	return node, nil
}

// makeValidator makes node a validator of the primary network, then of the kvvm subnet with the
// weight tmpnet gave start's validators, records it among the subnet's validators in the network
// directory, and waits until the P-chain lists it.
func makeValidator(ctx context.Context, log logging.Logger, network *tmpnet.Network, subnet *tmpnet.Subnet, apiURI string, node *tmpnet.Node) error {
	if err := addPrimaryValidator(ctx, subnet, apiURI, node); err != nil {
		return fmt.Errorf("adding it to the primary network's validators: %w", err)
	}
	log.Info("added validator to the primary network", zap.Stringer("nodeID", node.NodeID))
	// tmpnet takes the subnet validator's end time from the node's primary network validation.
	if err := subnet.AddValidators(ctx, log, apiURI, node); err != nil {
		return fmt.Errorf("adding it to the subnet's validators: %w", err)
	}
	subnet.ValidatorIDs = append(subnet.ValidatorIDs, node.NodeID)
	if err := subnet.Write(network.GetSubnetDir()); err != nil {
		return err
	}
	return tmpnet.WaitForActiveValidators(ctx, log, platformvm.NewClient(apiURI), subnet)
}

// addPrimaryValidator stakes addedNodeStake of the subnet owner's funds on node, the rewards going
// back to the owner.
func addPrimaryValidator(ctx context.Context, subnet *tmpnet.Subnet, apiURI string, node *tmpnet.Node) error {
	wallet, err := subnet.GetWallet(ctx, apiURI)
	if err != nil {
		return err
	}
	pop, err := node.GetProofOfPossession()
	if err != nil {
		return err
	}
	pWallet := wallet.P()
	rewardsOwner := &secp256k1fx.OutputOwners{Threshold: 1, Addrs: []ids.ShortID{subnet.OwningKey.Address()}}
	validator := &txs.SubnetValidator{
		Validator: txs.Validator{
			NodeID: node.NodeID,
			End:    uint64(time.Now().Add(addedNodePeriod).Unix()),
			Wght:   addedNodeStake,
		},
		Subnet: constants.PrimaryNetworkID,
	}
	_, err = pWallet.IssueAddPermissionlessValidatorTx(validator, pop, pWallet.Builder().Context().AVAXAssetID,
		rewardsOwner, rewardsOwner, addedNodeShares, common.WithContext(ctx))
	return err
}

// loadGenesis reads --genesis, or runs `<kvvm> genesis` (the plugin binary by default).
func loadGenesis(genesisPath, kvvmPath, pluginPath string) ([]byte, error) {
	if genesisPath != "" {
		if kvvmPath != "" {
			return nil, errors.New("give --genesis or --kvvm, not both")
		}
		genesis, err := os.ReadFile(genesisPath)
		if err != nil {
			return nil, fmt.Errorf("reading the genesis: %w", err)
		}
		return genesis, nil
	}
	if kvvmPath == "" {
		kvvmPath = pluginPath
	}
	cmd := exec.Command(kvvmPath, "genesis")
	cmd.Stderr = os.Stderr
	genesis, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s genesis: %w", kvvmPath, err)
	}
	if !json.Valid(genesis) {
		return nil, fmt.Errorf("%s genesis printed no JSON document", kvvmPath)
	}
	return genesis, nil
}

// summarize lists the running nodes in the order they joined the kvvm subnet (start's nodes in
// creation order, node 1 first, then those add-node added), whatever order tmpnet read them in.
func summarize(network *tmpnet.Network, vmID ids.ID) (*Summary, error) {
	subnet := network.GetSubnet(subnetName)
	if subnet == nil || len(subnet.Chains) == 0 || subnet.Chains[0].ChainID == ids.Empty {
		return nil, errors.New("the kvvm chain was not created")
	}
	chainID := subnet.Chains[0].ChainID.String()
	summary := &Summary{
		NetworkDir: network.Dir,
		SubnetID:   subnet.SubnetID.String(),
		ChainID:    chainID,
		VMID:       vmID.String(),
	}
	nodes := network.GetNodeURIs()
	slices.SortStableFunc(nodes, func(a, b tmpnet.NodeURI) int {
		return joinIndex(subnet, a.NodeID) - joinIndex(subnet, b.NodeID)
	})
	for _, node := range nodes {
		summary.Nodes = append(summary.Nodes, NodeSummary{
			NodeID:  node.NodeID.String(),
			URI:     node.URI,
			RPCURL:  fmt.Sprintf("%s/ext/bc/%s/rpc", node.URI, chainID),
			ChainID: chainID,
		})
	}
	if len(summary.Nodes) == 0 {
		return nil, errors.New("no running node found")
	}
	return summary, nil
}

// joinIndex is where nodeID is in the subnet's validator list; a node not in it sorts last.
func joinIndex(subnet *tmpnet.Subnet, nodeID ids.NodeID) int {
	if i := slices.Index(subnet.ValidatorIDs, nodeID); i >= 0 {
		return i
	}
	return len(subnet.ValidatorIDs)
}

func printSummary(s *Summary, try []string, elapsed time.Duration) {
	fmt.Printf("kvvm network started in %.0f s: subnet %s, chain %s\n", elapsed.Seconds(), s.SubnetID, s.ChainID)
	printNodes(s)
	fmt.Printf("try: %s\n", try[0])
	fmt.Printf("then: %s\n", try[1])
}

func printNodes(s *Summary) {
	for _, n := range s.Nodes {
		fmt.Printf("node %s  %s\n", n.NodeID, n.RPCURL)
	}
	fmt.Printf("network dir: %s\n", s.NetworkDir)
}

// firstCommands is a write and a read of it. Without cli they name `kvvm`, which the caller may
// not have on PATH, and pass node 1's URL; scripts/run-network.sh passes the path of the binary it
// built, which finds the network by itself, so that what it prints runs as printed. Without
// keyFile the write uses the CLI's default key, which the first write creates.
func firstCommands(s *Summary, cli, keyFile string) []string {
	rpc := ""
	if cli == "" {
		cli, rpc = "kvvm", " --rpc "+s.Nodes[0].RPCURL
	}
	put := cli + " put hello world --wait" + rpc
	if keyFile != "" {
		put += " --key " + keyFile
	}
	return []string{put, cli + " get hello" + rpc}
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// linkLatest points <root>/latest at the new network directory, as tmpnetctl does.
func linkLatest(networkDir string) error {
	latest := filepath.Join(filepath.Dir(networkDir), "latest")
	if err := os.Remove(latest); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.Symlink(filepath.Base(networkDir), latest)
}
