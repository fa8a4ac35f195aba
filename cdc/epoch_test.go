package cdc_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/anycompany/strangler/cdc"
	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/migrator"
)

// TestStackEpochRaised walks the failover step of docs/positions.md: with
// mysql.epoch raised past the checkpoint's, the cdc refuses to start
// without --from; with it, it streams in the new epoch, so its writes carry
// numbers above every one of the old epoch; lowering the epoch again is
// refused.
func TestStackEpochRaised(t *testing.T) {
	f := newFixture(t, eventbus.FaultConfig{})
	f.workload(60, 0)
	if _, err := migrator.RunBackfill(context.Background(), f.mcfg, migrator.Env{Log: f.log, Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	r := f.start(cdc.Options{}, "a")
	f.exec("UPDATE orders SET status = 'shipped' WHERE id % 2 = 0")
	f.verify(15 * time.Second)
	cur := f.current()
	waitFor(t, "the checkpoint at the source's position", 15*time.Second, func() bool { return f.checkpointSeq() >= gtidSeq(t, cur) })
	r.stop(t)

	f.cfg.MySQL.Epoch = 1
	if err := f.runOnce(cdc.Options{}); err == nil || !strings.Contains(err.Error(), "--from") {
		t.Fatalf("Run with mysql.epoch raised and no --from = %v, want a refusal asking for --from", err)
	}
	r = f.start(cdc.Options{From: f.current()}, "a")
	var key int64
	if err := f.db.QueryRow("SELECT MIN(id) FROM orders").Scan(&key); err != nil {
		t.Fatal(err)
	}
	f.exec("UPDATE orders SET status = 'cancelled' WHERE id = ?", key)
	f.verify(15 * time.Second)
	waitFor(t, "a checkpoint in epoch 1", 15*time.Second, func() bool {
		st, err := cdc.RunStatus(context.Background(), f.cfg, io.Discard, nil)
		return err == nil && st.Checkpoint != nil && st.Checkpoint.Pos.Epoch == 1
	})
	pos, ok := f.item(jsonID(key))["src_pos"].(*types.AttributeValueMemberN)
	if !ok || len(pos.Value) < 31 || !strings.HasPrefix(pos.Value, "1") {
		t.Errorf("src_pos of the row changed in epoch 1: %v, want 10^30 or more", pos)
	}
	r.stop(t)

	f.cfg.MySQL.Epoch = 0
	if err := f.runOnce(cdc.Options{}); err == nil || !strings.Contains(err.Error(), "only ever raised") {
		t.Errorf("Run with mysql.epoch lowered below the checkpoint's = %v, want a refusal", err)
	}
}
