package migrator

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/anycompany/strangler/internal/clock"
	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/guard"
	"github.com/anycompany/strangler/internal/retry"
)

// Difference kinds.
const (
	Missing   = "missing"   // a row with no item (or a tombstone)
	Extra     = "extra"     // an item with no row
	Different = "different" // both, with other values
	Lost      = "lost"      // neither a row nor an item (verify --ids only)
)

// Difference is one key whose item is not what its row maps to.
type Difference struct {
	Key    string            `json:"key"`
	Kind   string            `json:"kind"`
	Fields []codec.FieldDiff `json:"fields,omitempty"`
}

// VerifyReport is what verify found.
type VerifyReport struct {
	RowsChecked  int64        `json:"rows_checked"`
	ItemsChecked int64        `json:"items_checked"`
	Missing      int          `json:"missing"`
	Extra        int          `json:"extra"`
	Different    int          `json:"different"`
	Lost         int          `json:"lost,omitempty"`
	Settled      int          `json:"settled_in_grace"`
	Repaired     int          `json:"repaired"`
	Differences  []Difference `json:"differences"`
	Elapsed      time.Duration
}

// Equal reports whether nothing differs (after repairs).
func (r VerifyReport) Equal() bool { return len(r.Differences) == 0 }

// ErrNotEqual is returned when verify finds differences it did not repair.
var ErrNotEqual = errors.New("MySQL and DynamoDB differ")

// VerifyAPI is the part of the DynamoDB client verify needs.
type VerifyAPI interface {
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// Verifier compares every row with its item, by the codec's canonical form:
// rows against items in parallel key ranges, then every item against the
// rows (to find extras). A key that differs is checked again after a grace
// period, so writes in flight (the cdc) do not count as differences. With a
// repairer it rewrites what still differs, under the position guard.
type Verifier struct {
	inspector *Inspector
	mapping   *codec.Mapping
	api       VerifyAPI
	table     string
	cfg       VerifyConfig
	sample    float64
	repair    Writer
	log       *slog.Logger
	sleep     func(context.Context, time.Duration) error
}

// VerifierDeps are what a Verifier is built from.
type VerifierDeps struct {
	Inspector *Inspector
	Mapping   *codec.Mapping
	API       VerifyAPI
	Table     string
	// Sample checks only this percentage of keys (0 or 100: all).
	Sample float64
	// Repair, when set, rewrites differing items (use guard.Options.Inclusive).
	Repair Writer
	Logger *slog.Logger
	Sleep  func(context.Context, time.Duration) error
}

// NewVerifier wires a verifier.
func NewVerifier(cfg VerifyConfig, d VerifierDeps) *Verifier {
	if d.Sleep == nil {
		d.Sleep = clock.Sleep
	}
	return &Verifier{inspector: d.Inspector, mapping: d.Mapping, api: d.API, table: d.Table, cfg: cfg, sample: d.Sample,
		repair: d.Repair, log: d.Logger.With("component", "verify"), sleep: d.Sleep}
}

// sampled reports whether key is in the sample.
func (v *Verifier) sampled(key string) bool {
	if v.sample <= 0 || v.sample >= 100 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	return float64(h.Sum64()%10000) < v.sample*100
}

// Run verifies the whole table.
func (v *Verifier) Run(ctx context.Context) (VerifyReport, error) {
	start := time.Now()
	var (
		rep     VerifyReport
		mu      sync.Mutex
		suspect = map[string]bool{}
	)
	flag := func(key string) {
		mu.Lock()
		suspect[key] = true
		mu.Unlock()
	}
	bounds, _, err := v.inspector.Boundaries(ctx, 20*v.cfg.Batch)
	if err != nil {
		return rep, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(v.cfg.Workers)
	var rowsChecked, itemsChecked int64
	prev := Bound{}
	for _, hi := range bounds {
		lo := prev
		prev = hi
		g.Go(func() error {
			n, err := v.rowsAgainstItems(gctx, lo, hi, flag)
			mu.Lock()
			rowsChecked += n
			mu.Unlock()
			return err
		})
	}
	segments := v.cfg.Workers
	for seg := range segments {
		g.Go(func() error {
			n, err := v.itemsAgainstRows(gctx, seg, segments, flag)
			mu.Lock()
			itemsChecked += n
			mu.Unlock()
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return rep, err
	}
	rep.RowsChecked, rep.ItemsChecked = rowsChecked, itemsChecked
	keys := make([]string, 0, len(suspect))
	for k := range suspect {
		keys = append(keys, k)
	}
	if err := v.settle(ctx, keys, v.checkKey, v.repair != nil, &rep); err != nil {
		return rep, err
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// settle checks the suspect keys again after the grace period (writes in
// flight are not differences), repairs what still differs when repair is
// set, and counts the rest in rep by kind.
func (v *Verifier) settle(ctx context.Context, keys []string, check func(context.Context, string) (*Difference, error), repair bool, rep *VerifyReport) error {
	if len(keys) > 0 && v.cfg.Grace > 0 {
		v.log.Info("keys differ; checking them again after the grace period", "keys", len(keys), "grace", v.cfg.Grace)
		if err := v.sleep(ctx, v.cfg.Grace); err != nil {
			return err
		}
	}
	sort.Strings(keys)
	for _, key := range keys {
		d, err := check(ctx, key)
		if err != nil {
			return err
		}
		if d == nil {
			rep.Settled++
			continue
		}
		if repair {
			fixed, err := v.repairKey(ctx, key)
			if err != nil {
				return err
			}
			if fixed {
				rep.Repaired++
				continue
			}
		}
		switch d.Kind {
		case Missing:
			rep.Missing++
		case Extra:
			rep.Extra++
		case Lost:
			rep.Lost++
		default:
			rep.Different++
		}
		rep.Differences = append(rep.Differences, *d)
	}
	return nil
}

// rowsAgainstItems compares the rows of (lo, hi] with their items.
func (v *Verifier) rowsAgainstItems(ctx context.Context, lo, hi Bound, flag func(string)) (int64, error) {
	snap, err := v.inspector.ReadChunk(ctx, lo, hi)
	if err != nil {
		return 0, err
	}
	for _, b := range snap.Bad {
		flag(b.Key)
	}
	var rows []codec.Row
	for _, r := range snap.Rows {
		if v.sampled(v.mapping.KeyString(r)) {
			rows = append(rows, r)
		}
	}
	for start := 0; start < len(rows); start += v.cfg.Batch {
		batch := rows[start:min(start+v.cfg.Batch, len(rows))]
		keys := make([]string, len(batch))
		for i, r := range batch {
			keys[i] = v.mapping.KeyString(r)
		}
		items, err := v.getItems(ctx, keys)
		if err != nil {
			return 0, err
		}
		for i, r := range batch {
			if d := v.compare(keys[i], r, items[keys[i]]); d != nil {
				flag(keys[i])
			}
		}
	}
	return int64(len(rows)), nil
}

// compare returns the difference of row (nil: absent) and item (nil:
// absent), or nil when they agree.
func (v *Verifier) compare(key string, row codec.Row, item map[string]types.AttributeValue) *Difference {
	live := item != nil && !isTombstone(item)
	switch {
	case row == nil && !live:
		return nil
	case row == nil:
		return &Difference{Key: key, Kind: Extra}
	case !live:
		return &Difference{Key: key, Kind: Missing}
	}
	want, err := v.mapping.Item(row)
	if err != nil {
		return &Difference{Key: key, Kind: Different, Fields: []codec.FieldDiff{{Attribute: "(row)", Want: err.Error(), Got: "?"}}}
	}
	if diffs := codec.Diff(want, item); len(diffs) > 0 {
		return &Difference{Key: key, Kind: Different, Fields: diffs}
	}
	return nil
}

func isTombstone(item map[string]types.AttributeValue) bool {
	d, ok := item[codec.AttrDeleted].(*types.AttributeValueMemberBOOL)
	return ok && d.Value
}

// getItems reads keys with strongly consistent BatchGetItem calls,
// retrying unprocessed keys and failed calls under retry.DynamoDB() (the
// SDK tries each call once).
func (v *Verifier) getItems(ctx context.Context, keys []string) (map[string]map[string]types.AttributeValue, error) {
	out := make(map[string]map[string]types.AttributeValue, len(keys))
	req := make([]map[string]types.AttributeValue, len(keys))
	for i, k := range keys {
		req[i] = map[string]types.AttributeValue{codec.AttrPK: &types.AttributeValueMemberS{Value: k}}
	}
	p := retry.DynamoDB()
	p.Sleep = v.sleep
	for attempt := 1; len(req) > 0; attempt++ {
		res, err := v.api.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
			v.table: {Keys: req, ConsistentRead: aws.Bool(true)},
		}}, retry.NoSDKRetry)
		switch {
		case err == nil:
			for _, it := range res.Responses[v.table] {
				if pk, ok := it[codec.AttrPK].(*types.AttributeValueMemberS); ok {
					out[pk.Value] = it
				}
			}
			if req = res.UnprocessedKeys[v.table].Keys; len(req) == 0 {
				continue
			}
			err = errors.New("unprocessed (the table is throttled)")
		case !retry.Retryable(err):
			return nil, fmt.Errorf("reading items: %w", err)
		}
		if p.Last(attempt) {
			return nil, fmt.Errorf("reading items: %d keys unread, %w after %d attempts: %w", len(req), retry.ErrExhausted, attempt, err)
		}
		if err := p.Wait(ctx, attempt); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// itemsAgainstRows scans one segment of the table and flags live items
// whose row does not exist.
func (v *Verifier) itemsAgainstRows(ctx context.Context, segment, total int, flag func(string)) (int64, error) {
	var n int64
	var start map[string]types.AttributeValue
	for {
		page, err := v.api.Scan(ctx, &dynamodb.ScanInput{
			TableName: aws.String(v.table), Segment: aws.Int32(int32(segment)), TotalSegments: aws.Int32(int32(total)),
			ProjectionExpression:     aws.String("#pk, #del"),
			ExpressionAttributeNames: map[string]string{"#pk": codec.AttrPK, "#del": codec.AttrDeleted},
			ConsistentRead:           aws.Bool(true), ExclusiveStartKey: start,
		})
		if err != nil {
			return n, fmt.Errorf("scanning items: %w", err)
		}
		var keys []string
		for _, it := range page.Items {
			pk, ok := it[codec.AttrPK].(*types.AttributeValueMemberS)
			if !ok || isTombstone(it) || !v.sampled(pk.Value) {
				continue
			}
			keys = append(keys, pk.Value)
		}
		n += int64(len(keys))
		for s := 0; s < len(keys); s += 500 {
			batch := keys[s:min(s+500, len(keys))]
			present, err := v.rowsExist(ctx, batch)
			if err != nil {
				return n, err
			}
			for _, k := range batch {
				if !present[k] {
					flag(k)
				}
			}
		}
		if page.LastEvaluatedKey == nil {
			return n, nil
		}
		start = page.LastEvaluatedKey
	}
}

// rowsExist reports which keys have a row. A ref key (IsRefKey) is looked
// up by the ref column; an integer key only among rows without a ref (a row
// with a ref is keyed by it, so its surrogate id names no item).
func (v *Verifier) rowsExist(ctx context.Context, keys []string) (map[string]bool, error) {
	out := map[string]bool{}
	var byKey, byRef []string
	for _, k := range keys {
		if v.mapping.IsRefKey(k) {
			byRef = append(byRef, k)
		} else {
			byKey = append(byKey, k)
		}
	}
	ref, _, hasRef := v.mapping.Ref()
	lookup := func(col string, keys []string, arg func(string) any, extra string) error {
		if len(keys) == 0 {
			return nil
		}
		args := make([]any, len(keys))
		for i, k := range keys {
			args[i] = arg(k)
		}
		q := fmt.Sprintf("SELECT %s FROM %s WHERE %s IN (?%s)%s", col, v.mapping.QuotedTable(), col, strings.Repeat(",?", len(keys)-1), extra)
		rows, err := v.inspector.db.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("checking rows: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				return fmt.Errorf("checking rows: %w", err)
			}
			out[k] = true
		}
		return rows.Err()
	}
	noRef := ""
	if hasRef {
		noRef = " AND `" + ref.Name + "` IS NULL"
	}
	if err := lookup("`"+v.mapping.Key().Name+"`", byKey, func(k string) any { return mapper{v.mapping}.arg(Bound{Set: true, Value: k}) }, noRef); err != nil {
		return nil, err
	}
	if err := lookup("`"+ref.Name+"`", byRef, func(k string) any { return k }, ""); err != nil {
		return nil, err
	}
	return out, nil
}

// readRow reads the row of pk key (nil when it does not exist): by its ref
// for a ref key, else by its key among rows without a ref.
func (v *Verifier) readRow(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, key string) (codec.Row, error) {
	where := "`" + v.mapping.Key().Name + "` = ?"
	arg := mapper{v.mapping}.arg(Bound{Set: true, Value: key})
	if ref, _, ok := v.mapping.Ref(); ok {
		if v.mapping.IsRefKey(key) {
			where, arg = "`"+ref.Name+"` = ?", key
		} else {
			where += " AND `" + ref.Name + "` IS NULL"
		}
	}
	rows, err := q.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE %s", v.mapping.QuotedColumns(), v.mapping.QuotedTable(), where), arg)
	if err != nil {
		return nil, fmt.Errorf("reading row %s: %w", key, err)
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Err()
	}
	raw := make([]sql.RawBytes, len(v.mapping.Columns))
	dest := make([]any, len(raw))
	for i := range raw {
		dest[i] = &raw[i]
	}
	if err := rows.Scan(dest...); err != nil {
		return nil, fmt.Errorf("reading row %s: %w", key, err)
	}
	vals := make([][]byte, len(raw))
	for i, r := range raw {
		vals[i] = r
	}
	return v.mapping.RowFromText(vals)
}

// checkKey compares one key now.
func (v *Verifier) checkKey(ctx context.Context, key string) (*Difference, error) {
	row, item, err := v.readBoth(ctx, key)
	if err != nil {
		var ve *codec.ValueError
		if errors.As(err, &ve) {
			return &Difference{Key: key, Kind: Different, Fields: []codec.FieldDiff{{Attribute: ve.Column, Want: "(unmappable) " + ve.Reason}}}, nil
		}
		return nil, err
	}
	return v.compare(key, row, item), nil
}

// checkOrder is checkKey for a key that must exist: absent from both
// stores is a difference of kind Lost.
func (v *Verifier) checkOrder(ctx context.Context, key string) (*Difference, error) {
	row, item, err := v.readBoth(ctx, key)
	if err != nil {
		var ve *codec.ValueError
		if errors.As(err, &ve) {
			return &Difference{Key: key, Kind: Different, Fields: []codec.FieldDiff{{Attribute: ve.Column, Want: "(unmappable) " + ve.Reason}}}, nil
		}
		return nil, err
	}
	if row == nil && (item == nil || isTombstone(item)) {
		return &Difference{Key: key, Kind: Lost}, nil
	}
	return v.compare(key, row, item), nil
}

// readBoth reads key's row (nil when absent) and item (nil when absent).
func (v *Verifier) readBoth(ctx context.Context, key string) (codec.Row, map[string]types.AttributeValue, error) {
	row, err := v.readRow(ctx, v.inspector.db, key)
	if err != nil {
		return nil, nil, err
	}
	out, err := v.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(v.table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{codec.AttrPK: &types.AttributeValueMemberS{Value: key}}})
	if err != nil {
		return nil, nil, fmt.Errorf("reading item %s: %w", key, err)
	}
	return row, out.Item, nil
}

// repairKey rewrites key from a fresh snapshot under the (inclusive)
// position guard: the row's item, or a tombstone when the row is gone. A
// newer write (the cdc) wins over the repair.
//
// A ref key is never repaired: the new service owns that order and its
// DynamoDB item is the truth, so neither the MySQL row (possibly behind,
// the sync-back lags) nor a tombstone may overwrite it. Its difference stays
// in the report: re-deliver the order's events to the sync-back.
func (v *Verifier) repairKey(ctx context.Context, key string) (bool, error) {
	if v.mapping.IsRefKey(key) {
		v.log.Warn("not repaired: the new service owns this order (its item is the truth); the sync-back brings the MySQL row to it", "key", key)
		return false, nil
	}
	conn, err := v.inspector.db.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	pos, err := beginSnapshot(ctx, conn)
	if err != nil {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return false, err
	}
	row, err := v.readRow(ctx, conn, key)
	_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	if err != nil {
		return false, err
	}
	var it guard.Item
	if row == nil {
		it = guard.Tombstone(key, pos.Number(), time.Now().Add(7*24*time.Hour))
	} else {
		item, err := v.mapping.Item(row)
		if err != nil {
			return false, nil // unmappable: stays a difference
		}
		it = guard.NewItem(key, item, pos.Number())
	}
	res, err := v.repair.Write(ctx, []guard.Item{it})
	if err != nil {
		return false, err
	}
	if res.Written == 1 {
		v.log.Info("repaired", "key", key, "pos", pos.String())
	}
	d, err := v.checkKey(ctx, key)
	return err == nil && d == nil, err
}

// RunKeys checks only keys (order ids, as the order API answers them): each
// must have its row and its live item, with the same content. A key that
// differs is checked again after the grace period before it counts, as in
// Run. Missing counts keys without an item, Extra keys without a row and
// Lost keys with neither: all three are orders lost by a store. It never
// repairs.
func (v *Verifier) RunKeys(ctx context.Context, keys []string) (VerifyReport, error) {
	start := time.Now()
	var (
		rep     VerifyReport
		mu      sync.Mutex
		suspect []string
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4 * v.cfg.Workers)
	for _, key := range keys {
		g.Go(func() error {
			d, err := v.checkOrder(gctx, key)
			if err != nil {
				return err
			}
			if d != nil {
				mu.Lock()
				suspect = append(suspect, key)
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return rep, err
	}
	rep.RowsChecked, rep.ItemsChecked = int64(len(keys)), int64(len(keys))
	if err := v.settle(ctx, suspect, v.checkOrder, false, &rep); err != nil {
		return rep, err
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}
