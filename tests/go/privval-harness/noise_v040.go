//go:build noise

// The -noise mode: CometBFT v0.40's privval NoiseListener (libp2p Noise, the node's
// persistent key as its identity, an allow-list of signer peer IDs). NoiseListener does
// not exist in v0.38, so this file is built only with `-tags noise` against go.v040.mod
// (scripts/setup-go-peers.sh does that for privval-harness-v040).
package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/cometbft/cometbft/libs/log"
	"github.com/cometbft/cometbft/lp2p"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/libp2p/go-libp2p/core/peer"
)

func init() { listenNoise = noiseListen }

// noiseListen listens on addr with the node key in keyFile (created if missing, as a
// node does at its first start), accepting only the signers in allow (comma-separated
// peer IDs), and writes the node's own peer ID to idFile.
func noiseListen(addr, keyFile, allow, idFile string, accept, rw time.Duration, logger log.Logger) (net.Listener, error) {
	if keyFile == "" {
		return nil, errors.New("-noise needs -node-key-file (the node's persistent key)")
	}
	nodeKey, err := p2p.LoadOrGenNodeKey(keyFile)
	if err != nil {
		return nil, fmt.Errorf("node key: %w", err)
	}
	var allowed []peer.ID
	for _, s := range strings.Split(allow, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		id, err := peer.Decode(s)
		if err != nil {
			return nil, fmt.Errorf("-allow-peer-id %q: %w", s, err)
		}
		allowed = append(allowed, id)
	}
	// NoiseListener accepts any peer when the list is empty (tests only, says CometBFT):
	// a node always passes its signer's ID, and so do we.
	if len(allowed) == 0 {
		return nil, errors.New("-noise needs -allow-peer-id (the signer's peer ID)")
	}
	id, err := lp2p.IDFromPrivateKey(nodeKey.PrivKey)
	if err != nil {
		return nil, fmt.Errorf("node peer ID: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	nl, err := privval.NewNoiseListener(ln, nodeKey.PrivKey, allowed,
		privval.NoiseListenerTimeoutAccept(accept), privval.NoiseListenerTimeoutReadWrite(rw),
		privval.NoiseListenerLogger(logger))
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	if idFile != "" {
		if err := os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600); err != nil {
			_ = nl.Close()
			return nil, fmt.Errorf("-peer-id-file: %w", err)
		}
	}
	return nl, nil
}
