// Regenerates ../vectors-cometbft.json from CometBFT itself:
//
//	cd tools/validator-sim/gen-vectors && go mod tidy && go run . > ../vectors-cometbft.json
//
// (needs github.com/cometbft/cometbft v0.38.26 from the Go module proxy or cache).
package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	"github.com/cometbft/cometbft/types"
)

type bid struct {
	Hash     string `json:"hash,omitempty"`
	Total    uint32 `json:"total,omitempty"`
	PartHash string `json:"part_hash,omitempty"`
}
type ts struct {
	Seconds int64 `json:"seconds"`
	Nanos   int32 `json:"nanos"`
}
type vec struct {
	Kind      string `json:"kind"`
	ChainID   string `json:"chain_id"`
	Type      int32  `json:"type,omitempty"`
	Height    int64  `json:"height,omitempty"`
	Round     int32  `json:"round,omitempty"`
	PolRound  int32  `json:"pol_round,omitempty"`
	BlockID   *bid   `json:"block_id,omitempty"`
	Timestamp *ts    `json:"timestamp,omitempty"`
	Extension string `json:"extension,omitempty"`
	Want      string `json:"want"`
}

func h(n int, b byte) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b + byte(i)
	}
	return out
}

func mkbid(b *bid) cmtproto.BlockID {
	if b == nil {
		return cmtproto.BlockID{}
	}
	x, _ := hex.DecodeString(b.Hash)
	y, _ := hex.DecodeString(b.PartHash)
	return cmtproto.BlockID{Hash: x, PartSetHeader: cmtproto.PartSetHeader{Total: b.Total, Hash: y}}
}

func mkts(t *ts) time.Time {
	if t == nil {
		return time.Time{}
	}
	return time.Unix(t.Seconds, int64(t.Nanos)).UTC()
}

func main() {
	full := &bid{Hash: hex.EncodeToString(h(32, 0x10)), Total: 3, PartHash: hex.EncodeToString(h(32, 0x80))}
	partOnly := &bid{Total: 1, PartHash: hex.EncodeToString(h(32, 0x40))}
	hashOnly := &bid{Hash: hex.EncodeToString(h(32, 0x20))}
	epoch := &ts{0, 0}
	some := &ts{1700000123, 456789}
	neg := &ts{-5, 999999999}
	var vs []vec
	for _, c := range []vec{
		{Kind: "vote", ChainID: "sim-chain", Type: 1, Height: 5, Round: 0, BlockID: full, Timestamp: some},
		{Kind: "vote", ChainID: "sim-chain", Type: 2, Height: 1 << 40, Round: 7, BlockID: full, Timestamp: epoch},
		{Kind: "vote", ChainID: "sim-chain", Type: 2, Height: 9, Round: 1, BlockID: partOnly, Timestamp: neg},
		{Kind: "vote", ChainID: "x", Type: 1, Height: 9, Round: 1, BlockID: hashOnly},
		{Kind: "vote", ChainID: "cosmoshub-4", Type: 2, Height: 123456, Round: 2, Timestamp: some},
		{Kind: "proposal", ChainID: "sim-chain", Type: 32, Height: 5, Round: 0, PolRound: -1, BlockID: full, Timestamp: some},
		{Kind: "proposal", ChainID: "sim-chain", Type: 32, Height: 77, Round: 3, PolRound: 2, BlockID: full, Timestamp: epoch},
		{Kind: "proposal", ChainID: "", Height: 1, Round: 0, PolRound: 0},
		{Kind: "proposal", ChainID: "c", Type: 1, Height: 2, Round: 1, PolRound: -1, BlockID: partOnly, Timestamp: neg},
		{Kind: "extension", ChainID: "sim-chain", Type: 2, Height: 5, Round: 0, BlockID: full, Timestamp: some, Extension: "657874656e73696f6e"},
		{Kind: "extension", ChainID: "sim-chain", Type: 2, Height: 1 << 33, Round: 4, BlockID: full, Timestamp: some},
		{Kind: "extension", ChainID: "", Type: 2, Height: 0, Round: 0, Extension: "00"},
	} {
		ext, _ := hex.DecodeString(c.Extension)
		var sb []byte
		switch c.Kind {
		case "vote":
			v := cmtproto.Vote{Type: cmtproto.SignedMsgType(c.Type), Height: c.Height, Round: c.Round, BlockID: mkbid(c.BlockID), Timestamp: mkts(c.Timestamp)}
			sb = types.VoteSignBytes(c.ChainID, &v)
		case "extension":
			v := cmtproto.Vote{Type: cmtproto.SignedMsgType(c.Type), Height: c.Height, Round: c.Round, BlockID: mkbid(c.BlockID), Timestamp: mkts(c.Timestamp), Extension: ext}
			sb = types.VoteExtensionSignBytes(c.ChainID, &v)
		case "proposal":
			p := cmtproto.Proposal{Type: cmtproto.SignedMsgType(c.Type), Height: c.Height, Round: c.Round, PolRound: c.PolRound, BlockID: mkbid(c.BlockID), Timestamp: mkts(c.Timestamp)}
			sb = types.ProposalSignBytes(c.ChainID, &p)
		}
		c.Want = hex.EncodeToString(sb)
		vs = append(vs, c)
	}
	out, _ := json.MarshalIndent(map[string]any{
		"about":   "Sign bytes computed by CometBFT v0.38.26's types.VoteSignBytes, ProposalSignBytes and VoteExtensionSignBytes. An absent timestamp is Go's zero time; an absent block_id is the zero BlockID.",
		"vectors": vs,
	}, "", " ")
	fmt.Println(string(out))
}
