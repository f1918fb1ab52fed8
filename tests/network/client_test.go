//go:build e2e

package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// A JSON-RPC client for kvvm written only from docs/api.md and docs/signing.md: it signs with Go's
// standard ed25519 and the node's kvvm_signingBytes, as any non-Rust client would.

// Error codes from docs/api.md that the tests react to.
const (
	codeNonceTooFarAhead = 1006
	codeMempoolFull      = 1009
	codeAlreadyKnown     = 1010
	codeNotServing       = 1011
	codeNotAllowed       = 1013
)

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *rpcError) Error() string { return fmt.Sprintf("JSON-RPC error %d: %s", e.Code, e.Message) }

func errorCode(err error) int {
	var rpcErr *rpcError
	if errors.As(err, &rpcErr) {
		return rpcErr.Code
	}
	return 0
}

type kvvmClient struct {
	url  string
	http *http.Client
}

func newKvvmClient(url string) *kvvmClient {
	return &kvvmClient{url: url, http: &http.Client{Timeout: 20 * time.Second}}
}

func (c *kvvmClient) call(ctx context.Context, method string, result any, params ...any) error {
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, c.url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: reading the response: %w", method, c.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, c.url, resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	var envelope struct {
		Result json.RawMessage `json:"result"`
		Error  *rpcError       `json:"error"`
	}
	if err := json.Unmarshal(raw, &envelope); err != nil {
		return fmt.Errorf("%s %s: response is not JSON-RPC: %w: %s", method, c.url, err, raw)
	}
	if envelope.Error != nil {
		return envelope.Error
	}
	if result == nil {
		return nil
	}
	return json.Unmarshal(envelope.Result, result)
}

type entryView struct {
	Key      string `json:"key"`
	Value    string `json:"value"`
	ValueHex string `json:"valueHex"`
	Owner    string `json:"owner"`
	Height   uint64 `json:"height"`
}

type txStatusView struct {
	Status      string  `json:"status"`
	BlockHeight *uint64 `json:"blockHeight"`
	BlockID     *string `json:"blockId"`
	Reason      *string `json:"reason"`
}

type blockRef struct {
	ID     string `json:"id"`
	Height uint64 `json:"height"`
}

type blockView struct {
	ID        string   `json:"id"`
	Parent    string   `json:"parent"`
	Height    uint64   `json:"height"`
	StateRoot string   `json:"stateRoot"`
	TxIDs     []string `json:"txIds"`
	Status    string   `json:"status"`
}

type nonceView struct {
	Accepted uint64 `json:"accepted"`
	Next     uint64 `json:"next"`
}

type accountView struct {
	Nonce     uint64 `json:"nonce"`
	Role      string `json:"role"`
	KeysUsed  uint64 `json:"keysUsed"`
	BytesUsed uint64 `json:"bytesUsed"`
}

func (c *kvvmClient) account(ctx context.Context, account string) (accountView, error) {
	var view accountView
	err := c.call(ctx, "kvvm_account", &view, account)
	return view, err
}

func (c *kvvmClient) get(ctx context.Context, key string) (*entryView, error) {
	var entry *entryView
	err := c.call(ctx, "kvvm_get", &entry, key)
	return entry, err
}

func (c *kvvmClient) getMany(ctx context.Context, keys []string) ([]*entryView, error) {
	var entries []*entryView
	err := c.call(ctx, "kvvm_getMany", &entries, keys)
	return entries, err
}

func (c *kvvmClient) txStatus(ctx context.Context, txID string) (txStatusView, error) {
	var status txStatusView
	err := c.call(ctx, "kvvm_txStatus", &status, txID)
	return status, err
}

func (c *kvvmClient) lastAccepted(ctx context.Context) (blockRef, error) {
	var ref blockRef
	err := c.call(ctx, "kvvm_lastAccepted", &ref)
	return ref, err
}

func (c *kvvmClient) blockByHeight(ctx context.Context, height uint64) (*blockView, error) {
	var block *blockView
	err := c.call(ctx, "kvvm_blockByHeight", &block, height)
	return block, err
}

func (c *kvvmClient) nonce(ctx context.Context, account string) (nonceView, error) {
	var n nonceView
	err := c.call(ctx, "kvvm_nonce", &n, account)
	return n, err
}

func (c *kvvmClient) submitTx(ctx context.Context, signedTx string) (string, error) {
	var result struct {
		TxID string `json:"txId"`
	}
	err := c.call(ctx, "kvvm_submitTx", &result, signedTx)
	return result.TxID, err
}

// account is an ed25519 key that signs kvvm transactions.
type account struct {
	name string
	key  ed25519.PrivateKey
}

// newAccount derives a key from its name, so reruns use the same accounts.
func newAccount(name string) *account {
	seed := sha256.Sum256([]byte("kvvm-e2e/" + name))
	return &account{name: name, key: ed25519.NewKeyFromSeed(seed[:])}
}

func (a *account) id() string {
	return hex.EncodeToString(a.key.Public().(ed25519.PublicKey))
}

type op struct {
	Op      string `json:"op"`
	Key     string `json:"key,omitempty"`
	Value   string `json:"value,omitempty"`
	Account string `json:"account,omitempty"`
	Role    string `json:"role,omitempty"`
}

func put(key, value string) op { return op{Op: "put", Key: key, Value: value} }

// setRole gives account (64 hex characters) a role: "none", "enabled", "manager" or "admin".
func setRole(account, role string) op { return op{Op: "setRole", Account: account, Role: role} }

// sign asks the node for the signing bytes of ops at nonce and returns the signed transaction,
// `unsignedTx ‖ signature`, in hex (docs/signing.md).
func (a *account) sign(ctx context.Context, c *kvvmClient, nonce uint64, ops ...op) (string, error) {
	var view struct {
		SigningBytes string `json:"signingBytes"`
		UnsignedTx   string `json:"unsignedTx"`
		Nonce        uint64 `json:"nonce"`
	}
	req := map[string]any{"sender": a.id(), "nonce": nonce, "ops": ops}
	if err := c.call(ctx, "kvvm_signingBytes", &view, req); err != nil {
		return "", err
	}
	if view.Nonce != nonce {
		return "", fmt.Errorf("signingBytes used nonce %d, asked for %d", view.Nonce, nonce)
	}
	message, err := hex.DecodeString(strings.TrimPrefix(view.SigningBytes, "0x"))
	if err != nil {
		return "", fmt.Errorf("signingBytes is not hex: %w", err)
	}
	signature := ed25519.Sign(a.key, message)
	return view.UnsignedTx + hex.EncodeToString(signature), nil
}

// submit signs and submits, retrying while the node answers with a transient refusal (nonce
// ahead of what this node has seen yet, full mempool, chain not serving).
func (a *account) submit(ctx context.Context, c *kvvmClient, nonce uint64, ops ...op) (string, error) {
	signed, err := a.sign(ctx, c, nonce, ops...)
	if err != nil {
		return "", err
	}
	for {
		txID, err := c.submitTx(ctx, signed)
		switch errorCode(err) {
		case codeNonceTooFarAhead, codeMempoolFull, codeNotServing:
		default:
			return txID, err
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w (last refusal: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
