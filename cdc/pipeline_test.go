package cdc_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/anycompany/strangler/cdc"
	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/internal/awsconf"
	"github.com/anycompany/strangler/internal/position"
)

// holdProxy stands between a cdc and DynamoDB Local, speaking its protocol
// unchanged, and holds the first TransactWriteItems whose body holds
// marker (a slow call) until release, or until the client gives up on it;
// every other call goes through.
type holdProxy struct {
	srv    *httptest.Server
	marker []byte

	mu      sync.Mutex
	held    bool
	holding chan struct{} // closed once the call is held
	release chan struct{}
}

func newHoldProxy(t *testing.T, upstream, marker string) *holdProxy {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	p := &holdProxy{marker: []byte(marker), holding: make(chan struct{}), release: make(chan struct{})}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(u) }}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".TransactWriteItems") && bytes.Contains(body, p.marker) {
			p.mu.Lock()
			first := !p.held
			p.held = true
			p.mu.Unlock()
			if first {
				close(p.holding)
				select {
				case <-p.release:
				case <-r.Context().Done():
					return
				}
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { p.srv.CloseClientConnections(); p.srv.Close() })
	return p
}

// checkpointSeq is the sequence number of the checkpoint's GTID, 0 without one.
func (f *fixture) checkpointSeq() uint64 {
	f.t.Helper()
	out, err := f.ddb.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(f.cfg.ControlTable), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "cdc#orders"}, "sk": &types.AttributeValueMemberS{Value: "checkpoint"}}})
	if err != nil {
		f.t.Fatal(err)
	}
	return gtidSeq(f.t, itemString(out.Item, "resume"))
}

// gtidSeq is the number that orders a resume form: a MariaDB GTID's
// sequence number, a MySQL GTID set's size.
func gtidSeq(t *testing.T, resume string) uint64 {
	t.Helper()
	if resume == "" {
		return 0
	}
	p, err := position.Parse(resume)
	if err != nil {
		t.Fatalf("position %q: %v", resume, err)
	}
	return p.Seq
}

// TestStackPipelinedSlowBatch: batches are sent while an earlier batch's
// DynamoDB write is still held by a slow endpoint. Later batches' items are
// written meanwhile, yet the checkpoint stops right before the slow batch;
// the cdc stopped there and started again ends with DynamoDB equal to MySQL
// and every order's events complete, without a gap.
func TestStackPipelinedSlowBatch(t *testing.T) {
	f := newFixture(t, eventbus.FaultConfig{})
	f.cfg.Apply.MaxBatch = 100 // one insert transaction a batch
	f.cfg.Apply.InFlight = 3
	direct := f.cfg
	from := f.current()

	// Six transactions of 100 inserts; the second one's write is held.
	var seqs []uint64
	changes := 0
	for tx := range 6 {
		var vals []string
		for i := range 100 {
			vals = append(vals, fmt.Sprintf("('p%d', 'retail', 'accepted', 'EUR', '[]', %d.50, NULL, NULL, NOW(6), NOW(6))", tx*100+i, i))
			changes++
		}
		f.exec("INSERT INTO orders (customer_id, channel, status, currency, items, total, shipping_address, notes, created_at, updated_at) VALUES " + strings.Join(vals, ", "))
		seqs = append(seqs, gtidSeq(t, f.current()))
	}
	var ids [][2]int64 // per transaction, its lowest and highest id
	for tx := range 6 {
		var lo, hi int64
		if err := f.db.QueryRow("SELECT MIN(id), MAX(id) FROM orders WHERE customer_id LIKE ? AND CAST(SUBSTRING(customer_id, 2) AS UNSIGNED) BETWEEN ? AND ?",
			"p%", tx*100, tx*100+99).Scan(&lo, &hi); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, [2]int64{lo, hi})
	}
	slow := newHoldProxy(t, f.cfg.DynamoDB.URL, fmt.Sprintf(`{"S":"%d"}`, ids[1][0]+50))
	f.cfg.DynamoDB = awsconf.Local(slow.srv.URL)
	r := f.start(cdc.Options{From: from}, "a")

	select {
	case <-slow.holding:
	case <-time.After(30 * time.Second):
		t.Fatal("the second batch's write never reached DynamoDB")
	}
	// Batches 3 and 4 are in flight beside the held batch 2: their items
	// are written while batch 2's call is still held.
	waitFor(t, "later batches written past the held one", 20*time.Second, func() bool {
		return f.item(strconv.FormatInt(ids[2][1], 10)) != nil && f.item(strconv.FormatInt(ids[3][1], 10)) != nil
	})
	if f.item(strconv.FormatInt(ids[5][1], 10)) != nil {
		t.Error("batch 6 was written with 3 batches in flight (2, 3, 4) and batch 2 unacknowledged")
	}
	waitFor(t, "the first batch checkpointed", 20*time.Second, func() bool { return f.checkpointSeq() >= seqs[0] })
	waitFor(t, "batches 1, 3 and 4 acknowledged by both sinks", 20*time.Second, func() bool {
		return gauge(r.reg, "strangler_cdc_batches_acknowledged_total") >= 3
	})
	if cp := f.checkpointSeq(); cp != seqs[0] {
		t.Errorf("checkpoint at seq %d while the batch of seq %d is unacknowledged: want %d", cp, seqs[1], seqs[0])
	}
	inOrder(t, f.accepted())
	r.stop(t) // the held call is abandoned: batch 2 never acknowledged
	if cp := f.checkpointSeq(); cp != seqs[0] {
		t.Errorf("checkpoint at seq %d after stopping, want %d (before the unacknowledged batch)", cp, seqs[0])
	}

	// Restarted against DynamoDB Local directly: it resumes after batch 1.
	f.cfg = direct
	r = f.start(cdc.Options{From: from}, "b")
	for round := range 2 {
		res, err := f.db.Exec("UPDATE orders SET version = version + 1, total = total + 1, updated_at = NOW(6) WHERE customer_id LIKE 'p%'")
		if err != nil {
			t.Fatalf("update round %d: %v", round, err)
		}
		n, _ := res.RowsAffected()
		changes += int(n)
	}
	f.verify(30 * time.Second)
	evs := f.waitEvents(changes, 30*time.Second)
	dups := f.checkEvents(evs, changes)
	waitFor(t, "the checkpoint past every batch", 10*time.Second, func() bool { return f.checkpointSeq() >= gtidSeq(t, f.current()) })
	t.Logf("%d changes, %d events accepted (%d replayed after the restart)", changes, len(evs), dups)
	r.stop(t)
}
