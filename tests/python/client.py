#!/usr/bin/env python3
"""A kvvm client with nothing but PyNaCl and the standard library.

It builds the transaction bytes from docs/signing.md by hand, signs them, submits them over
JSON-RPC, waits for acceptance and reads the value back. Usage: client.py RPC_URL
"""
import json
import struct
import sys
import time
import urllib.request

import nacl.signing

DOMAIN = b"kvvm/tx/v1"


def call(url, method, *params):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        reply = json.load(response)
    if "error" in reply:
        raise SystemExit(f"{method} failed: {reply['error']}")
    return reply["result"]


def byte_string(data):
    return struct.pack("<I", len(data)) + data


def put(key, value):
    return b"\x00" + byte_string(key) + byte_string(value)


def unsigned_tx(chain_id, sender, nonce, ops):
    return chain_id + sender + struct.pack("<Q", nonce) + struct.pack("<I", len(ops)) + b"".join(ops)


def main():
    url = sys.argv[1]
    key = nacl.signing.SigningKey(bytes([0x42]) * 32)
    sender = bytes(key.verify_key)
    chain_id = bytes.fromhex(call(url, "kvvm_chainInfo")["chainIdHex"])
    nonce = call(url, "kvvm_nonce", sender.hex())["next"]
    body = unsigned_tx(chain_id, sender, nonce, [put(b"python/greeting", b"hello from python")])
    signature = key.sign(DOMAIN + body).signature
    tx_id = call(url, "kvvm_submitTx", "0x" + (body + signature).hex())["txId"]
    print("submitted", tx_id)
    deadline = time.time() + 50
    while time.time() < deadline:
        status = call(url, "kvvm_txStatus", tx_id)
        if status["status"] == "accepted":
            break
        if status["status"] in ("rejected", "dropped"):
            raise SystemExit(f"transaction {status}")
        time.sleep(0.2)
    else:
        raise SystemExit("not accepted in time")
    entry = call(url, "kvvm_get", "python/greeting")
    assert entry["owner"] == sender.hex(), entry
    print("read back:", entry["value"])


if __name__ == "__main__":
    main()
