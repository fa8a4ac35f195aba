package cdc_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/anycompany/strangler/cdc"
	"github.com/anycompany/strangler/devstack/eventbus"
)

// holding counts the items of the orders table that have attribute attr.
func (f *fixture) holding(attr string) int {
	f.t.Helper()
	n := 0
	p := dynamodb.NewScanPaginator(f.ddb, &dynamodb.ScanInput{TableName: aws.String(f.cfg.Table), ConsistentRead: aws.Bool(true),
		FilterExpression: aws.String("attribute_exists(#a)"), ExpressionAttributeNames: map[string]string{"#a": attr}})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			f.t.Fatal(err)
		}
		n += len(page.Items)
	}
	return n
}

// TestStackDroppedColumn adds a column mid-stream, fills it on every row,
// then drops it without touching the rows again: the cdc sweeps the
// attribute from every item older than the DROP (a row changed after the
// DROP is written without it and left alone), and verify reports equal
// without waiting for the rows to change.
func TestStackDroppedColumn(t *testing.T) {
	f := newFixture(t, eventbus.FaultConfig{})
	from := f.current()
	changes := f.workload(1500, 1) // more than a scan page of items
	f.start(cdc.Options{From: from}, "a")
	f.exec("ALTER TABLE orders ADD COLUMN gift_note VARCHAR(32) NULL")
	f.exec("UPDATE orders SET gift_note = CONCAT('note ', id)")
	f.verify(60 * time.Second)
	before := f.holding("gift_note")
	if before == 0 {
		t.Fatal("no item holds gift_note before the drop: the test exercises nothing")
	}
	f.exec("ALTER TABLE orders DROP COLUMN gift_note")
	a := f.insert("after-drop", "accepted", "3.00")
	f.exec("UPDATE orders SET status = 'processing' WHERE id = ?", a)
	deadline := time.Now().Add(60 * time.Second)
	for left := f.holding("gift_note"); left > 0; left = f.holding("gift_note") {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d items still hold gift_note 60s after the drop", left, before)
		}
		time.Sleep(200 * time.Millisecond)
	}
	f.verify(30 * time.Second)
	t.Logf("%d items held gift_note before the drop (workload %d changes); none after", before, changes)
}
