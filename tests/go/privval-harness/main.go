// privval-harness plays a CometBFT validator node against a remote signer, using
// CometBFT's own privval package (SignerListenerEndpoint + SignerClient) and its own
// sign-bytes and verification functions. It listens on a Unix socket, waits for the
// signer to dial in, runs a scripted session of requests and refusals, and prints one line
// per check and "N passed, M failed". The same source builds against CometBFT v0.38
// (go.mod) and v0.40 (go.v040.mod).
package main

import (
	"bytes"
	"encoding/base64"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/cometbft/cometbft/crypto"
	"github.com/cometbft/cometbft/libs/log"
	"github.com/cometbft/cometbft/privval"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	"github.com/cometbft/cometbft/types"
)

type harness struct {
	client  *privval.SignerClient
	chainID string
	pub     crypto.PubKey
	passed  int
	failed  int
}

func (h *harness) check(name string, err error) bool {
	if err != nil {
		h.failed++
		fmt.Printf("FAIL %s: %v\n", name, err)
		return false
	}
	h.passed++
	fmt.Printf("ok   %s\n", name)
	return true
}

var (
	hashA = bytes.Repeat([]byte{0xA1}, 32)
	hashB = bytes.Repeat([]byte{0xB2}, 32)
	t0    = time.Unix(1700000000, 123000000).UTC()
)

func blockID(hash []byte) cmtproto.BlockID {
	if hash == nil {
		return cmtproto.BlockID{}
	}
	return cmtproto.BlockID{Hash: hash, PartSetHeader: cmtproto.PartSetHeader{Total: 1, Hash: hash}}
}

func (h *harness) vote(t cmtproto.SignedMsgType, height int64, round int32, hash []byte, ts time.Time, ext []byte) *cmtproto.Vote {
	return &cmtproto.Vote{
		Type: t, Height: height, Round: round, BlockID: blockID(hash), Timestamp: ts,
		ValidatorAddress: h.pub.Address(), ValidatorIndex: 0, Extension: ext,
	}
}

func (h *harness) proposal(height int64, round, polRound int32, hash []byte, ts time.Time) *cmtproto.Proposal {
	return &cmtproto.Proposal{
		Type: cmtproto.ProposalType, Height: height, Round: round, PolRound: polRound,
		BlockID: blockID(hash), Timestamp: ts,
	}
}

// verifyVote checks the signature (and the extension signature exactly when the vote is
// a non-nil precommit) with CometBFT's own sign bytes.
func (h *harness) verifyVote(v *cmtproto.Vote) error {
	if !h.pub.VerifySignature(types.VoteSignBytes(h.chainID, v), v.Signature) {
		return fmt.Errorf("vote signature does not verify")
	}
	nonNilPrecommit := v.Type == cmtproto.PrecommitType && len(v.BlockID.Hash) > 0
	if !nonNilPrecommit {
		if len(v.ExtensionSignature) != 0 {
			return fmt.Errorf("extension signature on a prevote or nil precommit")
		}
		return nil
	}
	if len(v.ExtensionSignature) == 0 {
		return fmt.Errorf("non-nil precommit without extension signature")
	}
	if !h.pub.VerifySignature(types.VoteExtensionSignBytes(h.chainID, v), v.ExtensionSignature) {
		return fmt.Errorf("extension signature does not verify")
	}
	vote, err := types.VoteFromProto(v)
	if err != nil {
		return err
	}
	return vote.VerifyVoteAndExtension(h.chainID, h.pub)
}

func (h *harness) sign(v *cmtproto.Vote) (*cmtproto.Vote, error) {
	out := *v
	if err := h.client.SignVote(h.chainID, &out); err != nil {
		return nil, err
	}
	return &out, h.verifyVote(&out)
}

func (h *harness) signProposal(p *cmtproto.Proposal) (*cmtproto.Proposal, error) {
	out := *p
	if err := h.client.SignProposal(h.chainID, &out); err != nil {
		return nil, err
	}
	if !h.pub.VerifySignature(types.ProposalSignBytes(h.chainID, &out), out.Signature) {
		return nil, fmt.Errorf("proposal signature does not verify")
	}
	return &out, nil
}

func expectRefused(err error) error {
	if err == nil {
		return fmt.Errorf("signed, want a refusal")
	}
	if _, ok := err.(*privval.RemoteSignerError); !ok {
		return fmt.Errorf("want a RemoteSignerError, got %T: %v", err, err)
	}
	return nil
}

func (h *harness) run(wantPub string) {
	h.check("ping", h.client.Ping())
	pub, err := h.client.GetPubKey()
	if !h.check("pubkey", err) {
		return
	}
	h.pub = pub
	if wantPub != "" && base64.StdEncoding.EncodeToString(pub.Bytes()) != wantPub {
		h.check("pubkey matches the configured key", fmt.Errorf("got %X", pub.Bytes()))
	}

	// Height 1: proposal, prevote, precommit with extension.
	_, err = h.signProposal(h.proposal(1, 0, -1, hashA, t0))
	h.check("proposal h1", err)
	_, err = h.sign(h.vote(cmtproto.PrevoteType, 1, 0, hashA, t0, nil))
	h.check("prevote h1 (no extension signature)", err)
	pc1, err := h.sign(h.vote(cmtproto.PrecommitType, 1, 0, hashA, t0, []byte("extension-data")))
	h.check("precommit h1 with extension (both signatures verify)", err)

	// Repeats and conflicts at the same height/round/step.
	if pc1 != nil {
		again, err := h.sign(h.vote(cmtproto.PrecommitType, 1, 0, hashA, t0, []byte("extension-data")))
		if err == nil && !bytes.Equal(again.Signature, pc1.Signature) {
			err = fmt.Errorf("identical request got a different signature")
		}
		h.check("identical repeat returns the same signature and a valid fresh extension signature", err)
		later, err := h.sign(h.vote(cmtproto.PrecommitType, 1, 0, hashA, t0.Add(3*time.Second), []byte("extension-data")))
		if err == nil && (!bytes.Equal(later.Signature, pc1.Signature) || !later.Timestamp.Equal(t0)) {
			err = fmt.Errorf("timestamp-only change: want the earlier signature and timestamp, got ts %v", later.Timestamp)
		}
		h.check("timestamp-only change returns the earlier signature and timestamp", err)
	}
	_, err = h.sign(h.vote(cmtproto.PrecommitType, 1, 0, hashB, t0, nil))
	h.check("conflicting precommit refused", expectRefused(err))
	_, err = h.sign(h.vote(cmtproto.PrecommitType, 1, 0, nil, t0, nil))
	h.check("nil precommit after a block precommit refused", expectRefused(err))
	_, err = h.sign(h.vote(cmtproto.PrevoteType, 1, 0, hashA, t0, nil))
	h.check("step regression refused", expectRefused(err))
	_, err = h.signProposal(h.proposal(1, 0, -1, hashB, t0))
	h.check("conflicting proposal refused", expectRefused(err))

	// Height 2: nil votes, round change, empty extension.
	_, err = h.sign(h.vote(cmtproto.PrevoteType, 2, 0, nil, t0, nil))
	h.check("nil prevote h2", err)
	_, err = h.sign(h.vote(cmtproto.PrecommitType, 2, 0, nil, t0, nil))
	h.check("nil precommit h2 (no extension signature)", err)
	_, err = h.sign(h.vote(cmtproto.PrecommitType, 2, 1, hashB, t0, nil))
	h.check("non-nil precommit with empty extension gets an extension signature", err)
	_, err = h.sign(h.vote(cmtproto.PrecommitType, 2, 0, hashA, t0, nil))
	h.check("round regression refused", expectRefused(err))

	// Height 3: proposal repeats, malformed and foreign requests.
	p3, err := h.signProposal(h.proposal(3, 0, -1, hashA, t0))
	h.check("proposal h3", err)
	if p3 != nil {
		p3b, err := h.signProposal(h.proposal(3, 0, -1, hashA, t0.Add(time.Second)))
		if err == nil && (!bytes.Equal(p3b.Signature, p3.Signature) || !p3b.Timestamp.Equal(t0)) {
			err = fmt.Errorf("timestamp-only proposal change: want the earlier signature and timestamp")
		}
		h.check("proposal timestamp-only change returns the earlier signature and timestamp", err)
	}
	_, err = h.sign(h.vote(cmtproto.PrevoteType, 3, 0, hashA, t0, []byte("x")))
	h.check("extension on a prevote refused", expectRefused(err))
	_, err = h.sign(h.vote(cmtproto.PrevoteType, 2, 5, hashA, t0, nil))
	h.check("height regression refused", expectRefused(err))
	other := h.vote(cmtproto.PrevoteType, 4, 0, hashA, t0, nil)
	h.check("wrong chain id refused", expectRefused(h.client.SignVote("other-chain", other)))
	h.check("ping after refusals (session still served)", h.client.Ping())
	_, err = h.sign(h.vote(cmtproto.PrevoteType, 4, 0, hashA, t0, nil))
	h.check("prevote h4 after refusals", err)
}

func main() {
	socket := flag.String("socket", "", "Unix socket to listen on (the signer dials it)")
	chainID := flag.String("chain-id", "", "chain id")
	wantPub := flag.String("pubkey", "", "expected ed25519 public key, base64 (optional)")
	wait := flag.Duration("wait", 30*time.Second, "how long to wait for the signer")
	flag.Parse()
	if *socket == "" || *chainID == "" {
		fmt.Fprintln(os.Stderr, "usage: privval-harness -socket PATH -chain-id ID [-pubkey B64]")
		os.Exit(2)
	}
	ln, err := net.Listen("unix", *socket)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	endpoint := privval.NewSignerListenerEndpoint(log.NewNopLogger(), privval.NewUnixListener(ln),
		privval.SignerListenerEndpointTimeoutReadWrite(10*time.Second))
	client, err := privval.NewSignerClient(endpoint, *chainID)
	if err == nil {
		err = client.WaitForConnection(*wait)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "signer did not connect:", err)
		os.Exit(2)
	}
	h := &harness{client: client, chainID: *chainID}
	h.run(*wantPub)
	_ = client.Close()
	fmt.Printf("%d passed, %d failed\n", h.passed, h.failed)
	if h.failed > 0 {
		os.Exit(1)
	}
}
