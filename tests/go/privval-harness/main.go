// privval-harness plays the validator node against a remote signer (tmkms) using
// CometBFT's own privval package: it listens on a Unix socket with
// privval.SignerListenerEndpoint, waits for the signer to dial in, and runs a scripted
// session through privval.SignerClient. Every signature is checked with CometBFT's own
// verification code (types.Vote.Verify, VerifyVoteAndExtension, PubKey.VerifySignature
// over types.VoteSignBytes / types.ProposalSignBytes).
//
// The same source builds against two CometBFT releases: v0.38 with go.mod, v0.40 (main)
// with `go build -modfile=go.v040.mod -tags noise` (scripts/setup-go-peers.sh builds both);
// the tag adds noise_v040.go, the -noise mode (NoiseListener exists only in v0.40).
//
// Output: one line per check ("ok   name" / "FAIL name: why"), then "N passed, M failed".
// Exit status: 0 when every check passed, 1 when one failed, 2 on a setup error.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/cometbft/cometbft/crypto"
	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/cometbft/cometbft/libs/log"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	privvalproto "github.com/cometbft/cometbft/proto/tendermint/privval"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	"github.com/cometbft/cometbft/types"
)

// listenNoise is set by noise_v040.go in builds with -tags noise (CometBFT v0.40).
var listenNoise func(addr, nodeKeyFile, allow, peerIDFile string, accept, rw time.Duration, logger log.Logger) (net.Listener, error)

var (
	passed, failed int
	chainID        string
	pubKey         crypto.PubKey
	client         *privval.SignerClient
	endpoint       *privval.SignerListenerEndpoint
	verbose        bool
	noiseMode      bool
)

func check(name string, err error) bool {
	if err != nil {
		failed++
		fmt.Printf("FAIL %s: %v\n", name, err)
		// A refusal keeps the session going; a lost connection ends it here rather than
		// letting every later request wait for its timeout.
		if perr := ping(); perr != nil {
			failed++
			fmt.Printf("FAIL connection to the signer after that: %v (stopping)\n", perr)
			summary()
		}
		return false
	}
	passed++
	fmt.Printf("ok   %s\n", name)
	return true
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func hash(label string) []byte {
	h := sha256.Sum256([]byte(label))
	return h[:]
}

func blockID(label string) cmtproto.BlockID {
	return cmtproto.BlockID{
		Hash:          hash("block " + label),
		PartSetHeader: cmtproto.PartSetHeader{Total: 1, Hash: hash("parts " + label)},
	}
}

var nilBlock = cmtproto.BlockID{}

// Timestamps: whole milliseconds, as CometBFT's node produces (Canonical time).
var baseTime = time.Now().UTC().Truncate(time.Millisecond)

func ts(offset int) time.Time { return baseTime.Add(time.Duration(offset) * time.Second) }

func newVote(t cmtproto.SignedMsgType, h int64, r int32, bid cmtproto.BlockID, ext []byte, at time.Time) *cmtproto.Vote {
	return &cmtproto.Vote{
		Type:             t,
		Height:           h,
		Round:            r,
		BlockID:          bid,
		Timestamp:        at,
		ValidatorAddress: pubKey.Address(),
		ValidatorIndex:   0,
		Extension:        ext,
	}
}

func cloneVote(v *cmtproto.Vote) *cmtproto.Vote {
	c := *v
	c.Signature = nil
	c.ExtensionSignature = nil
	return &c
}

func isNilBlock(b cmtproto.BlockID) bool {
	return len(b.Hash) == 0 && b.PartSetHeader.Total == 0 && len(b.PartSetHeader.Hash) == 0
}

// sameVote: the signer must echo the request; only the signatures (and, for a
// timestamp-only repeat, the timestamp) may change.
func echoed(req, got *cmtproto.Vote, allowTimestamp bool) error {
	switch {
	case got.Type != req.Type:
		return errorf("type %v, sent %v", got.Type, req.Type)
	case got.Height != req.Height || got.Round != req.Round:
		return errorf("h/r %d/%d, sent %d/%d", got.Height, got.Round, req.Height, req.Round)
	case !bytes.Equal(got.BlockID.Hash, req.BlockID.Hash) ||
		got.BlockID.PartSetHeader.Total != req.BlockID.PartSetHeader.Total ||
		!bytes.Equal(got.BlockID.PartSetHeader.Hash, req.BlockID.PartSetHeader.Hash):
		return errorf("block id changed")
	case !allowTimestamp && !got.Timestamp.Equal(req.Timestamp):
		return errorf("timestamp %v, sent %v", got.Timestamp, req.Timestamp)
	case !bytes.Equal(got.ValidatorAddress, req.ValidatorAddress) || got.ValidatorIndex != req.ValidatorIndex:
		return errorf("validator address/index changed")
	case !bytes.Equal(got.Extension, req.Extension):
		return errorf("extension changed (%d bytes, sent %d)", len(got.Extension), len(req.Extension))
	}
	return nil
}

// verifyVote checks a signed vote with CometBFT's own code: the vote signature over
// VoteSignBytes, and the extension signature exactly where CometBFT wants one.
func verifyVote(v *cmtproto.Vote) error {
	vote, err := types.VoteFromProto(v)
	if err != nil {
		return errorf("VoteFromProto: %w", err)
	}
	if err := vote.ValidateBasic(); err != nil {
		return errorf("ValidateBasic: %w", err)
	}
	if err := vote.Verify(chainID, pubKey); err != nil {
		return errorf("Verify: %w", err)
	}
	if !pubKey.VerifySignature(types.VoteSignBytes(chainID, v), v.Signature) {
		return errorf("signature does not verify over VoteSignBytes")
	}
	wantExt := v.Type == cmtproto.PrecommitType && !isNilBlock(v.BlockID)
	if wantExt {
		if len(v.ExtensionSignature) == 0 {
			return errorf("non-nil precommit without extension signature")
		}
		if err := vote.VerifyVoteAndExtension(chainID, pubKey); err != nil {
			return errorf("VerifyVoteAndExtension: %w", err)
		}
		if err := vote.EnsureExtension(); err != nil {
			return errorf("EnsureExtension: %w", err)
		}
	} else if len(v.ExtensionSignature) != 0 {
		return errorf("unexpected extension signature on a %v (nil block: %v)", v.Type, isNilBlock(v.BlockID))
	}
	return nil
}

// signVote sends the request and checks the answer: a verified signature echoed on an
// unchanged vote. Returns the signed vote (nil on failure).
func signVote(name string, req *cmtproto.Vote) *cmtproto.Vote {
	v := cloneVote(req)
	if err := client.SignVote(chainID, v); err != nil {
		check(name, errorf("SignVote: %w", err))
		return nil
	}
	if err := echoed(req, v, false); err != nil {
		check(name, err)
		return nil
	}
	if !check(name, verifyVote(v)) {
		return nil
	}
	return v
}

func isRemoteSignerError(err error) bool {
	var rse *privval.RemoteSignerError
	return errors.As(err, &rse)
}

// refuseVote: the signer must answer with a RemoteSignerError and no signature.
func refuseVote(name, chain string, req *cmtproto.Vote) {
	v := cloneVote(req)
	err := client.SignVote(chain, v)
	switch {
	case err == nil:
		check(name, errorf("signed (sig %x...), expected a refusal", prefix(v.Signature)))
	case !isRemoteSignerError(err):
		check(name, errorf("expected a RemoteSignerError, got %w", err))
	case len(v.Signature) != 0:
		check(name, errorf("refusal carried a signature"))
	default:
		if verbose {
			fmt.Printf("     (refused: %v)\n", err)
		}
		check(name, nil)
	}
}

func prefix(b []byte) []byte {
	if len(b) > 6 {
		return b[:6]
	}
	return b
}

func newProposal(h int64, r, polRound int32, bid cmtproto.BlockID, at time.Time) *cmtproto.Proposal {
	return &cmtproto.Proposal{
		Type:      cmtproto.ProposalType,
		Height:    h,
		Round:     r,
		PolRound:  polRound,
		BlockID:   bid,
		Timestamp: at,
	}
}

func verifyProposal(p *cmtproto.Proposal) error {
	prop, err := types.ProposalFromProto(p)
	if err != nil {
		return errorf("ProposalFromProto: %w", err)
	}
	if err := prop.ValidateBasic(); err != nil {
		return errorf("ValidateBasic: %w", err)
	}
	if !pubKey.VerifySignature(types.ProposalSignBytes(chainID, p), p.Signature) {
		return errorf("signature does not verify over ProposalSignBytes")
	}
	return nil
}

func signProposal(name string, req *cmtproto.Proposal) *cmtproto.Proposal {
	p := *req
	p.Signature = nil
	if err := client.SignProposal(chainID, &p); err != nil {
		check(name, errorf("SignProposal: %w", err))
		return nil
	}
	if p.Height != req.Height || p.Round != req.Round || p.PolRound != req.PolRound ||
		!bytes.Equal(p.BlockID.Hash, req.BlockID.Hash) || !p.Timestamp.Equal(req.Timestamp) {
		check(name, errorf("proposal not echoed unchanged"))
		return nil
	}
	if !check(name, verifyProposal(&p)) {
		return nil
	}
	return &p
}

func refuseProposal(name, chain string, req *cmtproto.Proposal) {
	p := *req
	p.Signature = nil
	err := client.SignProposal(chain, &p)
	switch {
	case err == nil:
		check(name, errorf("signed, expected a refusal"))
	case !isRemoteSignerError(err):
		check(name, errorf("expected a RemoteSignerError, got %w", err))
	case len(p.Signature) != 0:
		check(name, errorf("refusal carried a signature"))
	default:
		check(name, nil)
	}
}

func ping() error {
	msg := privvalproto.Message{Sum: &privvalproto.Message_PingRequest{PingRequest: &privvalproto.PingRequest{}}}
	resp, err := endpoint.SendRequest(msg)
	if err != nil {
		return err
	}
	if resp.GetPingResponse() == nil {
		return errorf("answer is not a PingResponse: %T", resp.Sum)
	}
	return nil
}

func session(expectPub []byte, height int64) {
	P, C := cmtproto.PrevoteType, cmtproto.PrecommitType
	H := height

	check("ping", ping())

	pk, err := client.GetPubKey()
	if err == nil && !bytes.Equal(pk.Bytes(), expectPub) {
		err = errorf("pubkey %s, expected %s",
			base64.StdEncoding.EncodeToString(pk.Bytes()), base64.StdEncoding.EncodeToString(expectPub))
	}
	if err == nil && pk.Type() != "ed25519" {
		err = errorf("key type %q", pk.Type())
	}
	if !check("pubkey matches the expected ed25519 key", err) {
		fmt.Println("cannot verify signatures without the key: stopping")
		return
	}
	pubKey = pk

	// A normal height: proposal, prevote, precommit with an extension.
	signProposal("proposal h=H r=0", newProposal(H, 0, -1, blockID("A"), ts(0)))
	signVote("prevote h=H r=0 block", newVote(P, H, 0, blockID("A"), nil, ts(1)))
	signVote("precommit h=H r=0 block + extension", newVote(C, H, 0, blockID("A"), []byte("extension one"), ts(2)))

	// Nil votes, then a round with a proposal carrying a POL round and an empty extension.
	signVote("prevote h=H+1 r=0 nil", newVote(P, H+1, 0, nilBlock, nil, ts(3)))
	signVote("precommit h=H+1 r=0 nil (no extension signature)", newVote(C, H+1, 0, nilBlock, nil, ts(4)))
	signProposal("proposal h=H+1 r=1 pol=0", newProposal(H+1, 1, 0, blockID("B"), ts(5)))
	signVote("prevote h=H+1 r=1 block", newVote(P, H+1, 1, blockID("B"), nil, ts(6)))
	signVote("precommit h=H+1 r=1 block, empty extension (still signed)", newVote(C, H+1, 1, blockID("B"), nil, ts(7)))

	// A large extension (a frame longer than one read). CometBFT v0.38's endpoint reads
	// privval messages of at most 10 KiB; v0.40 allows a 1 MiB extension.
	bigKiB := 512
	if strings.HasPrefix(cometbftVersion(), "v0.38.") {
		bigKiB = 8
	}
	// Over Noise, CometBFT v0.40.0's node misreads any privval message longer than one
	// Noise frame (65519 bytes): after it, go-libp2p's Read returns (0, nil) once and
	// protoio's byteReader takes that for a 0x00 byte, i.e. a phantom empty message that
	// shifts every later response by one. It happens with go-libp2p's own initiator too,
	// so the response here (the echoed extension) stays within one frame.
	if noiseMode {
		bigKiB = 60
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), bigKiB*64)
	signVote("prevote h=H+2 r=0 block", newVote(P, H+2, 0, blockID("C"), nil, ts(8)))
	signVote(fmt.Sprintf("precommit h=H+2 r=0 block, %d KiB extension", bigKiB), newVote(C, H+2, 0, blockID("C"), big, ts(9)))

	// Double-sign protection at h=H+3.
	h3 := H + 3
	first := signVote("prevote h=H+3 r=0 block A", newVote(P, h3, 0, blockID("A3"), nil, ts(10)))
	refuseVote("conflicting prevote (block B) at the same h/r/s is refused", chainID, newVote(P, h3, 0, blockID("B3"), nil, ts(10)))
	refuseVote("conflicting prevote (nil) at the same h/r/s is refused", chainID, newVote(P, h3, 0, nilBlock, nil, ts(10)))
	if first != nil {
		req := newVote(P, h3, 0, blockID("A3"), nil, ts(10))
		v := cloneVote(req)
		err := client.SignVote(chainID, v)
		if err == nil && !bytes.Equal(v.Signature, first.Signature) {
			err = errorf("a different signature for identical sign bytes")
		}
		if err == nil {
			err = verifyVote(v)
		}
		check("identical repeat gets the same signature", err)

		req = newVote(P, h3, 0, blockID("A3"), nil, ts(70))
		v = cloneVote(req)
		err = client.SignVote(chainID, v)
		if err == nil && !bytes.Equal(v.Signature, first.Signature) {
			err = errorf("timestamp-only change got a new signature")
		}
		if err == nil && !v.Timestamp.Equal(first.Timestamp) {
			err = errorf("timestamp %v returned, expected the earlier %v", v.Timestamp, first.Timestamp)
		}
		if err == nil {
			err = verifyVote(v)
		}
		check("timestamp-only change gets the earlier signature and timestamp", err)
	}

	pc := signVote("precommit h=H+3 r=0 block A + extension", newVote(C, h3, 0, blockID("A3"), []byte("ext-a"), ts(11)))
	if pc != nil {
		// Same precommit, another extension: the vote signature is the earlier one and
		// the extension signature is freshly made over the new extension.
		req := newVote(C, h3, 0, blockID("A3"), []byte("ext-b, made again"), ts(11))
		v := cloneVote(req)
		err := client.SignVote(chainID, v)
		if err == nil {
			err = echoed(req, v, false)
		}
		if err == nil && !bytes.Equal(v.Signature, pc.Signature) {
			err = errorf("repeated precommit got a different vote signature")
		}
		if err == nil {
			err = verifyVote(v)
		}
		if err == nil && bytes.Equal(v.ExtensionSignature, pc.ExtensionSignature) {
			err = errorf("extension signature not remade for the new extension")
		}
		check("repeated non-nil precommit gets a fresh, valid extension signature", err)
	}
	refuseVote("conflicting precommit (nil) at the same h/r/s is refused", chainID, newVote(C, h3, 0, nilBlock, nil, ts(11)))
	refuseVote("step regression (prevote after precommit) is refused", chainID, newVote(P, h3, 0, blockID("B3"), nil, ts(12)))
	refuseProposal("step regression (proposal after precommit) is refused", chainID, newProposal(h3, 0, -1, blockID("B3"), ts(12)))
	refuseVote("height regression (h=H+2) is refused", chainID, newVote(C, H+2, 1, blockID("X"), nil, ts(12)))
	refuseVote("height regression (h=H) is refused", chainID, newVote(P, H, 5, blockID("X"), nil, ts(12)))

	// Round regression.
	signVote("prevote h=H+3 r=2 block", newVote(P, h3, 2, blockID("R2"), nil, ts(13)))
	refuseVote("round regression (r=1 after r=2) is refused", chainID, newVote(C, h3, 1, blockID("R2"), nil, ts(14)))

	// Proposals: conflict and identical repeat.
	h4 := H + 4
	prop := signProposal("proposal h=H+4 r=0", newProposal(h4, 0, -1, blockID("P4"), ts(20)))
	refuseProposal("conflicting proposal at the same h/r is refused", chainID, newProposal(h4, 0, -1, blockID("Q4"), ts(20)))
	if prop != nil {
		p := *newProposal(h4, 0, -1, blockID("P4"), ts(20))
		err := client.SignProposal(chainID, &p)
		if err == nil && !bytes.Equal(p.Signature, prop.Signature) {
			err = errorf("identical proposal got another signature")
		}
		check("identical proposal repeat gets the same signature", err)

		p = *newProposal(h4, 0, -1, blockID("P4"), ts(90))
		err = client.SignProposal(chainID, &p)
		if err == nil && (!bytes.Equal(p.Signature, prop.Signature) || !p.Timestamp.Equal(prop.Timestamp)) {
			err = errorf("timestamp-only proposal change: want the earlier signature and timestamp")
		}
		if err == nil {
			err = verifyProposal(&p)
		}
		check("timestamp-only proposal change gets the earlier signature and timestamp", err)
	}

	// The connection survived all refusals, and refusals left the state where it was.
	check("ping after refusals", ping())
	signVote("prevote h=H+5 r=0 block after refusals", newVote(P, H+5, 0, blockID("F"), nil, ts(40)))
	signVote("precommit h=H+5 r=0 block after refusals", newVote(C, H+5, 0, blockID("F"), []byte("final"), ts(41)))

	// Last, the refusals that would move the state forward if they were wrongly signed.
	// Extensions belong only to non-nil precommits (CometBFT's FilePV refuses others).
	refuseVote("extension on a prevote is refused", chainID, newVote(P, H+6, 0, blockID("E"), []byte("x"), ts(50)))
	refuseVote("extension on a nil precommit is refused", chainID, newVote(C, H+6, 0, nilBlock, []byte("x"), ts(50)))
	// Another chain id: refused.
	refuseVote("vote for another chain id is refused", chainID+"-other", newVote(P, H+10, 0, blockID("W"), nil, ts(60)))
	refuseProposal("proposal for another chain id is refused", chainID+"-other", newProposal(H+10, 0, -1, blockID("W"), ts(60)))
	signVote("prevote h=H+6 r=0 block after the last refusals", newVote(P, H+6, 0, blockID("G"), nil, ts(61)))
	// CometBFT's own signer also refuses a pubkey request for another chain.
	msg := privvalproto.Message{Sum: &privvalproto.Message_PubKeyRequest{
		PubKeyRequest: &privvalproto.PubKeyRequest{ChainId: chainID + "-other"}}}
	resp, err := endpoint.SendRequest(msg)
	if err == nil {
		switch r := resp.GetPubKeyResponse(); {
		case r == nil:
			err = errorf("answer is not a PubKeyResponse: %T", resp.Sum)
		case r.Error == nil:
			err = errorf("answered with a key, expected a refusal")
		}
	}
	check("pubkey request for another chain id is refused", err)
	check("ping at the end", ping())
}

// serveFilePV is CometBFT's own remote signer (a stand-in for tmkms when checking the
// tests themselves): FilePV behind SignerServer, dialing the node's socket, until killed.
func serveFilePV(socket, keyFile string) int {
	stateFile := strings.TrimSuffix(keyFile, ".json") + "_state.json"
	if _, err := os.Stat(stateFile); err != nil {
		privval.LoadFilePVEmptyState(keyFile, stateFile).Save()
	}
	pv := privval.LoadFilePV(keyFile, stateFile)
	dialer := privval.NewSignerDialerEndpoint(log.NewTMLogger(log.NewSyncWriter(os.Stderr)), privval.DialUnixFn(socket),
		privval.SignerDialerEndpointConnRetries(1000),
		privval.SignerDialerEndpointRetryWaitInterval(100*time.Millisecond))
	server := privval.NewSignerServer(dialer, chainID, pv)
	if err := server.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "signer:", err)
		return 2
	}
	select {}
}

// cometbftVersion: the version of the CometBFT module this program was built with.
func cometbftVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/cometbft/cometbft" {
				return dep.Version
			}
		}
	}
	return "unknown"
}

// startReference runs CometBFT's own FilePV (a fresh key in dir) as the remote signer,
// dialing the socket, to show that every check of the session holds for the reference.
func startReference(dir, socket string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	pv := privval.GenFilePV(dir+"/priv_validator_key.json", dir+"/priv_validator_state.json")
	pv.Save()
	pk, err := pv.GetPubKey()
	if err != nil {
		return "", err
	}
	dialer := privval.NewSignerDialerEndpoint(log.NewNopLogger(), privval.DialUnixFn(socket),
		privval.SignerDialerEndpointConnRetries(100),
		privval.SignerDialerEndpointRetryWaitInterval(100*time.Millisecond))
	server := privval.NewSignerServer(dialer, chainID, pv)
	if err := server.Start(); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(pk.Bytes()), nil
}

func main() {
	socket := flag.String("socket", "", "Unix socket to listen on (the signer dials it)")
	flag.StringVar(&chainID, "chain-id", "", "chain id")
	pub := flag.String("pubkey", "", "expected ed25519 public key, base64")
	height := flag.Int64("height", 100, "first height of the session (the signer's state must be below it)")
	wait := flag.Duration("wait", 30*time.Second, "how long to wait for the signer to connect")
	rw := flag.Duration("timeout", 5*time.Second, "read/write timeout per request")
	flag.BoolVar(&verbose, "v", false, "log the privval endpoint and refusal messages")
	signWith := flag.String("sign-with", "", "instead of a session: be the remote signer, CometBFT's FilePV with this priv_validator_key.json (state beside it), dialing -socket")
	reference := flag.String("reference", "", "run CometBFT's own FilePV signer (key and state in this folder) instead of waiting for an external one")
	tcpAddr := flag.String("tcp", "", "listen on this TCP address behind a Secret Connection (CometBFT's TCPListener, a fresh identity) instead of -socket")
	nodeIDFile := flag.String("node-id-file", "", "with -tcp: write the listener's node ID to this file")
	noiseAddr := flag.String("noise", "", "listen on this TCP address behind libp2p Noise (CometBFT v0.40's NoiseListener; builds with -tags noise) instead of -socket")
	nodeKeyFile := flag.String("node-key-file", "", "with -noise (required) or -tcp (optional; default a fresh key, as CometBFT's TCP listener makes): the node's key (CometBFT node_key.json), created if missing")
	allowPeerID := flag.String("allow-peer-id", "", "with -noise: the signer peer IDs allowed to connect, comma-separated")
	peerIDFile := flag.String("peer-id-file", "", "with -noise: write the node's libp2p peer ID to this file")
	sentryRecord := flag.String("sentry-record", "", "instead of the scripted session: act as one of several sentries, sending votes for randomly chosen blocks from -height for -sentry-heights heights, and record every signature received in this file")
	sentryHeights := flag.Int64("sentry-heights", 100, "heights in -sentry-record mode")
	sentrySeed := flag.Int64("sentry-seed", 1, "random seed in -sentry-record mode (sentries with different seeds ask for different blocks)")
	flag.Parse()

	if *socket != "" && *signWith != "" && chainID != "" {
		os.Exit(serveFilePV(*socket, *signWith))
	}
	if (*socket == "" && *tcpAddr == "" && *noiseAddr == "") || chainID == "" || (*pub == "" && *reference == "") {
		fmt.Fprintln(os.Stderr, "usage: privval-harness -socket PATH -chain-id ID -pubkey BASE64 [-height N]")
		os.Exit(2)
	}
	path := *socket
	var listener net.Listener
	var err error
	logger := log.NewNopLogger()
	if verbose {
		logger = log.NewTMLogger(log.NewSyncWriter(os.Stderr))
	}
	if *noiseAddr != "" {
		if listenNoise == nil {
			fmt.Fprintf(os.Stderr, "-noise: this harness (CometBFT %s) was built without Noise: build against go.v040.mod with -tags noise\n", cometbftVersion())
			os.Exit(2)
		}
		listener, err = listenNoise(*noiseAddr, *nodeKeyFile, *allowPeerID, *peerIDFile, *wait, *rw, logger)
		if err != nil {
			fmt.Fprintln(os.Stderr, "noise listener:", err)
			os.Exit(2)
		}
		path = *noiseAddr
		noiseMode = true
	} else if *tcpAddr != "" {
		ln, err := net.Listen("tcp", *tcpAddr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "listen:", err)
			os.Exit(2)
		}
		key := cmted25519.GenPrivKey()
		if *nodeKeyFile != "" {
			nk, err := p2p.LoadOrGenNodeKey(*nodeKeyFile)
			edKey, ok := cmted25519.PrivKey(nil), false
			if err == nil {
				edKey, ok = nk.PrivKey.(cmted25519.PrivKey)
			}
			if !ok {
				fmt.Fprintln(os.Stderr, "-node-key-file: not an ed25519 node key:", err)
				os.Exit(2)
			}
			key = edKey
		}
		if *nodeIDFile != "" {
			if err := os.WriteFile(*nodeIDFile, []byte(fmt.Sprintf("%x\n", key.PubKey().Address())), 0o600); err != nil {
				fmt.Fprintln(os.Stderr, "node-id-file:", err)
				os.Exit(2)
			}
		}
		tl := privval.NewTCPListener(ln, key)
		privval.TCPListenerTimeoutAccept(*wait)(tl)
		privval.TCPListenerTimeoutReadWrite(*rw)(tl)
		listener = tl
		path = *tcpAddr
	} else {
		_ = os.Remove(path)
		ln, err := net.Listen("unix", path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "listen:", err)
			os.Exit(2)
		}
		defer os.Remove(path)
		ul := privval.NewUnixListener(ln)
		privval.UnixListenerTimeoutAccept(*wait)(ul)
		privval.UnixListenerTimeoutReadWrite(*rw)(ul)
		listener = ul
	}

	endpoint = privval.NewSignerListenerEndpoint(logger, listener, privval.SignerListenerEndpointTimeoutReadWrite(*rw))
	client, err = privval.NewSignerClient(endpoint, chainID)
	if err != nil {
		fmt.Fprintln(os.Stderr, "signer client:", err)
		os.Exit(2)
	}
	fmt.Printf("CometBFT %s privval node side, listening on %s for chain %s\n", cometbftVersion(), path, chainID)
	if *reference != "" {
		if *pub, err = startReference(*reference, path); err != nil {
			fmt.Fprintln(os.Stderr, "reference signer:", err)
			os.Exit(2)
		}
		fmt.Println("signer: CometBFT's FilePV (reference run)")
	}
	expectPub, err := base64.StdEncoding.DecodeString(*pub)
	if err != nil || len(expectPub) != 32 {
		fmt.Fprintln(os.Stderr, "-pubkey: expected 32 bytes in base64")
		os.Exit(2)
	}
	if err := client.WaitForConnection(*wait); err != nil {
		fmt.Printf("FAIL signer connected: %v\n", err)
		fmt.Printf("0 passed, 1 failed\n")
		os.Exit(1)
	}
	check("signer connected", nil)

	if *sentryRecord != "" {
		os.Exit(sentry(expectPub, *height, *sentryHeights, *sentrySeed, *sentryRecord))
	}
	session(expectPub, *height)
	_ = client.Close()
	summary()
}

// sentry plays one of several sentry nodes of one validator: for each height it asks for
// a prevote and a precommit for one of two blocks chosen at random, as concurrent sentries
// that saw different proposals would. Every signature received is verified with
// CometBFT's own sign bytes and appended to `record` as "height round type block sig";
// the caller checks across all sentries' records that no two blocks were signed at one
// height/round/type. Refusals are expected (the other sentry got there first).
func sentry(pub []byte, start, heights, seed int64, record string) int {
	out, err := os.OpenFile(record, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, "record:", err)
		return 2
	}
	defer out.Close()
	rng := seed
	next := func() int64 { rng = rng*6364136223846793005 + 1442695040888963407; return (rng >> 33) & 1 }
	blocks := [2][]byte{bytes.Repeat([]byte{0xA0}, 32), bytes.Repeat([]byte{0xB0}, 32)}
	signed, refused := 0, 0
	for h := start; h < start+heights; h++ {
		for _, t := range []cmtproto.SignedMsgType{cmtproto.PrevoteType, cmtproto.PrecommitType} {
			hash := blocks[next()]
			v := &cmtproto.Vote{Type: t, Height: h, Round: 0, Timestamp: time.Unix(1700000000+h, 0).UTC(),
				BlockID: cmtproto.BlockID{Hash: hash, PartSetHeader: cmtproto.PartSetHeader{Total: 1, Hash: hash}}}
			if err := client.SignVote(chainID, v); err != nil {
				var rse *privval.RemoteSignerError
				if !errors.As(err, &rse) {
					fmt.Printf("FAIL sentry: %v\n", err)
					return 1
				}
				refused++
				continue
			}
			if !cmted25519.PubKey(pub).VerifySignature(types.VoteSignBytes(chainID, v), v.Signature) {
				fmt.Printf("FAIL sentry: signature at %d/%d/%d does not verify\n", h, 0, t)
				return 1
			}
			fmt.Fprintf(out, "%d 0 %d %X %X\n", h, t, v.BlockID.Hash, v.Signature)
			signed++
		}
	}
	fmt.Printf("sentry seed %d: %d signatures, %d refusals\n", seed, signed, refused)
	return 0
}

// summary prints the closing line and exits: 0 when every check passed.
func summary() {
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
	os.Exit(0)
}
