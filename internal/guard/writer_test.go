package guard_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/ddbtable"
	"github.com/anycompany/strangler/internal/guard"
	"github.com/anycompany/strangler/internal/stacktest"
)

func newTable(t *testing.T, c *dynamodb.Client) string {
	t.Helper()
	name := stacktest.TableName(t, c, "guard")
	_, err := ddbtable.Ensure(context.Background(), c, ddbtable.Spec{Create: &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return name
}

// version is one state of a key at a source position; deleted means the
// row is gone (a tombstone).
type version struct {
	pos     int
	value   int
	deleted bool
}

func itemOf(key string, v version) guard.Item {
	pos := strconv.Itoa(v.pos)
	if v.deleted {
		return guard.Tombstone(key, pos, time.Unix(2e9, 0))
	}
	return guard.NewItem(key, map[string]types.AttributeValue{
		"pk":    &types.AttributeValueMemberS{Value: key},
		"value": &types.AttributeValueMemberN{Value: strconv.Itoa(v.value)},
	}, pos)
}

// TestGuardConverges is the property of invariant 1: random interleavings
// of backfill chunk writes (a snapshot's state stamped with an older, safe
// position) and cdc writes (every change at its own position, replayed at
// random) always converge to the newest state, and a tombstone is never
// resurrected by an older snapshot.
func TestGuardConverges(t *testing.T) {
	c := stacktest.DynamoDB(t)
	for round := range 8 {
		t.Run(fmt.Sprintf("round%d", round), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(uint64(round), 42))
			table := newTable(t, c)
			mode := []guard.Mode{guard.Put, guard.Transact}[round%2]
			w := guard.NewWriter(c, table, mode, guard.Options{Concurrency: 8})
			stream := round >= 4 // the later rounds write through Stream
			const keys = 30
			history := map[string][]version{}
			pos := 1000
			for k := range keys {
				key := "k" + strconv.Itoa(k)
				n := 1 + rng.IntN(6)
				for i := range n {
					pos += 1 + rng.IntN(5)
					history[key] = append(history[key], version{pos: pos, value: rng.IntN(1000), deleted: i > 0 && rng.IntN(4) == 0})
				}
			}
			// Writes: every cdc change (some twice), and per key a few backfill
			// snapshots: the state at a snapshot S stamped with p0 <= S.
			var writes []guard.Item
			for key, hs := range history {
				for _, v := range hs {
					writes = append(writes, itemOf(key, v))
					if rng.IntN(3) == 0 {
						writes = append(writes, itemOf(key, v))
					}
				}
				for range 1 + rng.IntN(3) {
					i := rng.IntN(len(hs))
					snap := hs[i]
					if snap.deleted {
						continue // a deleted row is not in a snapshot
					}
					stamp := hs[i].pos - rng.IntN(3)
					if i > 0 {
						stamp = max(stamp, hs[i-1].pos+1)
					}
					writes = append(writes, itemOf(key, version{pos: stamp, value: snap.value}))
				}
			}
			rng.Shuffle(len(writes), func(i, j int) { writes[i], writes[j] = writes[j], writes[i] })
			// Apply in random concurrent groups; a group never holds a key twice
			// (one transaction cannot), as the callers guarantee.
			var wg sync.WaitGroup
			for len(writes) > 0 {
				seen := map[string]bool{}
				var group, rest []guard.Item
				for _, it := range writes {
					if seen[it.Key] || len(group) >= 1+rng.IntN(40) {
						rest = append(rest, it)
						continue
					}
					seen[it.Key] = true
					group = append(group, it)
				}
				writes = rest
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := write(w, stream, group); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			for key, hs := range history {
				want := hs[len(hs)-1]
				out, err := c.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
					Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: key}}})
				if err != nil {
					t.Fatal(err)
				}
				_, deleted := out.Item[codec.AttrDeleted]
				gotPos := out.Item[codec.AttrPos].(*types.AttributeValueMemberN).Value
				if deleted != want.deleted || gotPos != strconv.Itoa(want.pos) {
					t.Errorf("%s: deleted=%v src_pos=%s; want deleted=%v src_pos=%d (history %v)", key, deleted, gotPos, want.deleted, want.pos, hs)
					continue
				}
				if !want.deleted {
					if v := out.Item["value"].(*types.AttributeValueMemberN).Value; v != strconv.Itoa(want.value) {
						t.Errorf("%s: value %s, want %d", key, v, want.value)
					}
				}
			}
		})
	}
}

// write writes items with one Write or through a Stream (of a Pool of 3
// callers every other time).
func write(w *guard.Writer, stream bool, items []guard.Item) (guard.Result, error) {
	if !stream {
		return w.Write(context.Background(), items)
	}
	s := w.Stream(context.Background())
	if len(items)%2 == 0 {
		p := w.NewPool(3)
		defer p.Close()
		s = p.Stream(context.Background())
	}
	// OnDone sees every call's result: together the written and skipped
	// counts of Close.
	var mu sync.Mutex
	var seen guard.Result
	s.OnDone(func(r guard.Result) {
		mu.Lock()
		seen.Written += r.Written
		seen.Skipped += r.Skipped
		mu.Unlock()
	})
	for _, it := range items {
		if err := s.Add(it); err != nil {
			break
		}
	}
	res, err := s.Close()
	if err == nil && (seen.Written != res.Written || seen.Skipped != res.Skipped) {
		err = fmt.Errorf("OnDone saw %d written, %d skipped; Close says %d, %d", seen.Written, seen.Skipped, res.Written, res.Skipped)
	}
	return res, err
}

func TestWriteCountsAndDeadLetters(t *testing.T) {
	c := stacktest.DynamoDB(t)
	for _, tc := range []struct {
		mode   guard.Mode
		stream bool
	}{{guard.Put, false}, {guard.Transact, false}, {guard.Batch, false}, {guard.Put, true}, {guard.Transact, true}, {guard.Batch, true}} {
		mode := tc.mode
		name := string(mode)
		if tc.stream {
			name += "_stream"
		}
		t.Run(name, func(t *testing.T) {
			table := newTable(t, c)
			w := guard.NewWriter(c, table, mode, guard.Options{})
			var items []guard.Item
			for i := range 130 {
				items = append(items, itemOf("k"+strconv.Itoa(i), version{pos: 10, value: i}))
			}
			huge := itemOf("huge", version{pos: 10})
			huge.Item["blob"] = &types.AttributeValueMemberB{Value: make([]byte, 401*1024)}
			badNum := itemOf("badnum", version{pos: 10})
			badNum.Item["n"] = &types.AttributeValueMemberS{Value: ""}
			badNum.Item[""] = &types.AttributeValueMemberS{Value: "empty attribute name"}
			items = append(items, huge, badNum)
			res, err := write(w, tc.stream, items)
			if err != nil {
				t.Fatal(err)
			}
			if res.Written != 130 || len(res.Dead) != 2 {
				t.Fatalf("written %d dead %v; want 130 written, huge and badnum dead", res.Written, res.Dead)
			}
			if mode == guard.Batch {
				return
			}
			// Older positions lose; newer win.
			older := []guard.Item{itemOf("k1", version{pos: 9, value: -1}), itemOf("k2", version{pos: 11, value: -2})}
			res, err = write(w, tc.stream, older)
			if err != nil || res.Written != 1 || res.Skipped != 1 {
				t.Fatalf("older/newer: %+v, %v; want 1 written 1 skipped", res, err)
			}
		})
	}
}

func TestRateLimiter(t *testing.T) {
	now := time.Unix(0, 0)
	var slept time.Duration
	l := guard.NewRateLimiter(100, func() time.Time { return now }, func(_ context.Context, d time.Duration) error {
		slept += d
		now = now.Add(d)
		return nil
	})
	for range 30 {
		if err := l.Wait(context.Background(), 10); err != nil {
			t.Fatal(err)
		}
	}
	// 300 units at 100/s with a 100-unit burst: about 2 s of waiting.
	if slept < 1900*time.Millisecond || slept > 2100*time.Millisecond {
		t.Errorf("slept %v for 300 units at 100/s, want about 2s", slept)
	}
}

// TestNewSizedItem: the size the codec computed plus the stamp is what the
// writer would compute itself (an item over the limit is refused the same).
func TestNewSizedItem(t *testing.T) {
	item := map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "k1"},
		"j":  &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"a": &types.AttributeValueMemberN{Value: "1.5"}}},
	}
	size := codec.ItemSize(item)
	sized := guard.NewSizedItem("k1", item, "123456789012345678901234567", size)
	if got, want := guard.SizeOf(sized), codec.ItemSize(sized.Item); got != want {
		t.Fatalf("NewSizedItem size %d, ItemSize of the stamped item %d", got, want)
	}
}

// nestedOf is itemOf with a list and a map beside the value; a bad value
// (an empty number) makes DynamoDB refuse it.
func nestedOf(key string, v version, bad bool) guard.Item {
	n := strconv.Itoa(v.value)
	if bad {
		n = ""
	}
	return guard.NewItem(key, map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: key}, "value": &types.AttributeValueMemberN{Value: n},
		"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: "<&>"},
			&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": &types.AttributeValueMemberBOOL{Value: true}}}}},
	}, strconv.Itoa(v.pos))
}

// TestWriteModes: every mode writes nested items as given (Transact in
// groups, a lone item by PutItem, Batch unguarded), guards them alike, and
// an item DynamoDB refuses is a dead letter.
func TestWriteModes(t *testing.T) {
	c := stacktest.DynamoDB(t)
	ctx := context.Background()
	for _, mode := range []guard.Mode{guard.Transact, guard.Put, guard.Batch} {
		t.Run(string(mode), func(t *testing.T) {
			table := newTable(t, c)
			w := guard.NewWriter(c, table, mode, guard.Options{})
			var items []guard.Item
			for i := range 130 {
				items = append(items, nestedOf("k"+strconv.Itoa(i), version{pos: 10, value: i}, false))
			}
			items = append(items, nestedOf("bad", version{pos: 10}, true))
			res, err := w.Write(ctx, items)
			if err != nil {
				t.Fatal(err)
			}
			if res.Written != 130 || len(res.Dead) != 1 || res.Dead[0].Key != "bad" {
				t.Fatalf("written %d dead %v; want 130 written, bad dead", res.Written, res.Dead)
			}
			// A lone item (PutItem in every mode but Batch).
			res, err = w.Write(ctx, []guard.Item{nestedOf("lone", version{pos: 10, value: 7}, false)})
			if err != nil || res.Written != 1 {
				t.Fatalf("lone item: %+v, %v", res, err)
			}
			if mode != guard.Batch {
				older := []guard.Item{nestedOf("k1", version{pos: 9, value: -1}, false), nestedOf("k2", version{pos: 11, value: -2}, false)}
				if res, err = w.Write(ctx, older); err != nil || res.Written != 1 || res.Skipped != 1 {
					t.Fatalf("older/newer: %+v, %v; want 1 written 1 skipped", res, err)
				}
			}
			for key, want := range map[string]string{"k0": "0", "k129": "129", "lone": "7", "k1": "1", "k2": "-2"} {
				if mode == guard.Batch && key == "k2" {
					want = "2"
				}
				out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: key}}, ConsistentRead: aws.Bool(true)})
				if err != nil {
					t.Fatal(err)
				}
				wantItem := map[string]types.AttributeValue{
					"pk": &types.AttributeValueMemberS{Value: key}, "value": &types.AttributeValueMemberN{Value: want},
					"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: "<&>"},
						&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": &types.AttributeValueMemberBOOL{Value: true}}}}},
					"src_pos": out.Item["src_pos"],
				}
				if got, w := codec.Show(&types.AttributeValueMemberM{Value: out.Item}), codec.Show(&types.AttributeValueMemberM{Value: wantItem}); got != w || out.Item["src_pos"] == nil {
					t.Errorf("%s: %s, want %s", key, got, w)
				}
			}
		})
	}
}
