// Package guard writes items to DynamoDB under the position guard of
// invariant 1: an item is written only if the table holds no item of its key
// or one with an older source position,
//
//	attribute_not_exists(pk) OR src_pos < :pos
//
// so every writer that copies from MySQL (backfill, cdc, repair) may run at
// the same time, in any interleaving, and still converge to the newest state.
// It also knows the unguarded fast path (BatchWriteItem) and when it is safe.
package guard

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/retry"
)

// Mode is how items are written.
type Mode string

// The write modes.
const (
	// Put writes each item with a conditional PutItem, many in flight. Safe
	// with concurrent writers; one SDK call per item.
	Put Mode = "put"
	// Transact groups up to 100 guarded puts in one TransactWriteItems and
	// retries only the cancelled ones. Safe with concurrent writers; far fewer
	// SDK calls than Put, at twice the write capacity.
	Transact Mode = "transact"
	// Batch writes 25 items per unconditional BatchWriteItem. Fastest, but
	// the guard does not apply: safe only while no other writer touches the
	// same keys (a backfill that finishes before the cdc starts).
	Batch Mode = "batch"
)

// Modes lists every mode.
var Modes = []Mode{Put, Transact, Batch}

// Condition is the position guard.
const Condition = "attribute_not_exists(#pk) OR #pos < :pos"

// InclusiveCondition is the guard for repairs, which write the state of a
// snapshot begun after :pos over an item that may carry the same position:
// when no transaction committed since, both describe the same state, so the
// snapshot may replace a corrupted item.
const InclusiveCondition = "attribute_not_exists(#pk) OR #pos <= :pos"

// API is the part of the DynamoDB client a Writer uses.
type API interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// Limiter paces writes by write capacity units; nil means unlimited.
type Limiter interface {
	Wait(ctx context.Context, units int) error
}

// Item is one item to write: the codec's item plus its source position.
type Item struct {
	Key  string
	Item map[string]types.AttributeValue
	// Pos is the encoded source position (position.Position.Number).
	Pos string
	// size is the item's estimated size, computed once by Write.
	size int
}

// NewItem stamps item with pos (an encoded position).
func NewItem(key string, item map[string]types.AttributeValue, pos string) Item {
	item[codec.AttrPos] = &types.AttributeValueMemberN{Value: pos}
	return Item{Key: key, Item: item, Pos: pos}
}

// NewSizedItem is NewItem for an item whose codec.ItemSize (before the
// stamp) the caller already knows: Write need not walk the item again.
func NewSizedItem(key string, item map[string]types.AttributeValue, pos string, size int) Item {
	return NewStamp(pos).SizedItem(key, item, size)
}

// Stamp is an encoded position as the attribute NewItem stamps, made once
// to stamp many items (a chunk's) with one shared value: the SDK only reads
// an item, so they need not each hold a copy. A Stamp may be copied; make
// one with NewStamp.
type Stamp struct {
	pos string
	av  *types.AttributeValueMemberN
}

// NewStamp returns the stamp of pos (an encoded position).
func NewStamp(pos string) Stamp {
	return Stamp{pos: pos, av: &types.AttributeValueMemberN{Value: pos}}
}

// SizedItem is NewSizedItem(key, item, pos, size) with the stamp's shared
// attribute.
func (s Stamp) SizedItem(key string, item map[string]types.AttributeValue, size int) Item {
	item[codec.AttrPos] = s.av
	return Item{Key: key, Item: item, Pos: s.pos, size: size + len(codec.AttrPos) + (len(s.pos)+1)/2 + 1}
}

// Tombstone is the item a deleted row becomes (invariant 4): its key, its
// position, deleted=true and a TTL.
func Tombstone(key, pos string, expires time.Time) Item {
	return Item{Key: key, Pos: pos, Item: map[string]types.AttributeValue{
		codec.AttrPK:      &types.AttributeValueMemberS{Value: key},
		codec.AttrPos:     &types.AttributeValueMemberN{Value: pos},
		codec.AttrDeleted: &types.AttributeValueMemberBOOL{Value: true},
		codec.AttrExpires: &types.AttributeValueMemberN{Value: strconv.FormatInt(expires.Unix(), 10)},
	}}
}

// DeadLetter is an item DynamoDB refuses for good, with the reason and
// the item (to keep its image: the writer's caller may not hold it).
type DeadLetter struct {
	Key    string                          `json:"key"`
	Reason string                          `json:"reason"`
	Item   map[string]types.AttributeValue `json:"-"`
}

// Result counts what a Write did. Written + Skipped + len(Dead) is the
// number of items given.
type Result struct {
	// Written items are in the table now.
	Written int
	// Skipped items lost to a newer position already in the table.
	Skipped int
	// Dead items were refused (too large, invalid) and not written.
	Dead []DeadLetter
	// Calls counts DynamoDB calls made, retries included.
	Calls int
}

func (r *Result) add(o Result) {
	r.Written += o.Written
	r.Skipped += o.Skipped
	r.Dead = append(r.Dead, o.Dead...)
	r.Calls += o.Calls
}

// Writer writes items under the guard. It is safe for concurrent use.
type Writer struct {
	api         API
	table       string
	mode        Mode
	concurrency int
	limiter     Limiter
	retry       retry.Policy
	condition   string
}

// Options tune a Writer.
type Options struct {
	// Concurrency is the calls in flight per Write (PutItem,
	// TransactWriteItems or BatchWriteItem calls). Optional: defaults to 16.
	Concurrency int
	// Limiter paces writes. Optional: unlimited.
	Limiter Limiter
	// Retry is how a call that failed for a retryable reason (and the
	// items a call left unwritten) is tried again; the SDK tries each call
	// once. Optional: retry.DynamoDB(), filling in its zero numbers.
	Retry retry.Policy
	// Inclusive uses InclusiveCondition (repairs only). Optional: false.
	Inclusive bool
}

// NewWriter returns a writer into table.
func NewWriter(api API, table string, mode Mode, o Options) *Writer {
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	cond := Condition
	if o.Inclusive {
		cond = InclusiveCondition
	}
	return &Writer{api: api, table: table, mode: mode, concurrency: o.Concurrency, limiter: o.Limiter, retry: o.Retry.Or(retry.DynamoDB()), condition: cond}
}

// Write writes items (distinct keys) in the writer's mode. An error means
// some items may not be written; the Result counts those that were.
func (w *Writer) Write(ctx context.Context, items []Item) (Result, error) {
	var res Result
	ok := make([]Item, 0, len(items))
	for _, it := range items {
		if dead, bad := it.sized(); bad {
			res.Dead = append(res.Dead, dead)
			continue
		}
		ok = append(ok, it)
	}
	var (
		r   Result
		err error
	)
	switch w.mode {
	case Transact:
		r, err = w.fanOut(ctx, transactGroups(ok), w.transactGroup)
	case Batch:
		r, err = w.fanOut(ctx, fixedGroups(ok, 25), w.batchChunk)
	default:
		r, err = w.fanOut(ctx, fixedGroups(ok, 1), func(ctx context.Context, g []Item) (Result, error) {
			return w.put(ctx, g[0], true, 0)
		})
	}
	res.add(r)
	return res, err
}

// sized computes the item's size unless NewSizedItem gave it, and refuses
// an item over DynamoDB's limit.
func (it *Item) sized() (DeadLetter, bool) {
	if it.size == 0 {
		it.size = codec.ItemSize(it.Item)
	}
	if it.size > codec.MaxItemBytes {
		return DeadLetter{Key: it.Key, Reason: fmt.Sprintf("item of about %d bytes exceeds DynamoDB's 400 KB limit", it.size), Item: it.Item}, true
	}
	return DeadLetter{}, false
}

// fanOut writes each group with write, Concurrency groups at a time, and
// adds up the results.
func (w *Writer) fanOut(ctx context.Context, groups [][]Item, write func(context.Context, []Item) (Result, error)) (Result, error) {
	var (
		mu  sync.Mutex
		res Result
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(w.concurrency)
	for _, group := range groups {
		g.Go(func() error {
			r, err := write(gctx, group)
			mu.Lock()
			res.add(r)
			mu.Unlock()
			return err
		})
	}
	err := g.Wait()
	return res, err
}

// fixedGroups splits items into groups of at most n.
func fixedGroups(items []Item, n int) [][]Item {
	groups := make([][]Item, 0, (len(items)+n-1)/n)
	for start := 0; start < len(items); start += n {
		groups = append(groups, items[start:min(start+n, len(items))])
	}
	return groups
}

// transactGroups splits items into TransactWriteItems groups of up to 100
// items and under the 4 MB request limit.
func transactGroups(items []Item) [][]Item {
	var groups [][]Item
	for len(items) > 0 {
		n, size := 0, 0
		for n < len(items) && n < 100 {
			if n > 0 && size+items[n].size > 3_500_000 {
				break
			}
			size += items[n].size
			n++
		}
		groups = append(groups, items[:n])
		items = items[n:]
	}
	return groups
}

func wcu(it Item, factor int) int {
	return factor * ((it.size + 1023) / 1024)
}

func (w *Writer) wait(ctx context.Context, units int) error {
	if w.limiter == nil {
		return nil
	}
	return w.limiter.Wait(ctx, units)
}

// put writes one item, guarded or not, retrying what can be retried. failed
// counts the attempts already spent on the item (in a group it was part of).
func (w *Writer) put(ctx context.Context, it Item, guarded bool, failed int) (Result, error) {
	var res Result
	if err := w.wait(ctx, wcu(it, 1)); err != nil {
		return res, err
	}
	in := &dynamodb.PutItemInput{TableName: aws.String(w.table), Item: it.Item}
	if guarded {
		in.ConditionExpression = aws.String(w.condition)
		in.ExpressionAttributeNames = map[string]string{"#pk": codec.AttrPK, "#pos": codec.AttrPos}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":pos": &types.AttributeValueMemberN{Value: it.Pos}}
	}
	for attempt := failed + 1; ; attempt++ {
		res.Calls++
		_, err := w.api.PutItem(ctx, in, retry.NoSDKRetry)
		var ccf *types.ConditionalCheckFailedException
		var ve *smithyValidation
		switch {
		case err == nil:
			res.Written++
			return res, nil
		case errors.As(err, &ccf):
			res.Skipped++
			return res, nil
		case isValidation(err, &ve):
			res.Dead = append(res.Dead, DeadLetter{Key: it.Key, Reason: "DynamoDB refused the item: " + ve.msg, Item: it.Item})
			return res, nil
		case !retry.Retryable(err):
			return res, fmt.Errorf("writing item %s: %w", it.Key, err)
		case w.retry.Last(attempt):
			return res, fmt.Errorf("writing item %s: %w after %d attempts: %w", it.Key, retry.ErrExhausted, attempt, err)
		}
		if err := w.retry.Wait(ctx, attempt); err != nil {
			return res, err
		}
	}
}

// transactGroup writes one group of guarded puts in one TransactWriteItems,
// retrying only the items that were cancelled along with a failed guard.
// The policy's attempts count the calls that failed for a retryable reason
// (a call that only settled some items is progress).
func (w *Writer) transactGroup(ctx context.Context, group []Item) (Result, error) {
	var res Result
	for failed := 0; len(group) > 0; {
		if len(group) == 1 {
			r, err := w.put(ctx, group[0], true, failed)
			res.add(r)
			return res, err
		}
		units := 0
		tx := make([]types.TransactWriteItem, len(group))
		puts := make([]types.Put, len(group))
		// The SDK only reads a request: the items of one group share the
		// table, the condition, its names and, per position (a chunk's items
		// all have one), its values.
		table, cond := aws.String(w.table), aws.String(w.condition)
		names := map[string]string{"#pk": codec.AttrPK, "#pos": codec.AttrPos}
		var (
			valuesPos string
			values    map[string]types.AttributeValue
		)
		for i, it := range group {
			units += wcu(it, 2)
			if values == nil || it.Pos != valuesPos {
				valuesPos, values = it.Pos, map[string]types.AttributeValue{":pos": &types.AttributeValueMemberN{Value: it.Pos}}
			}
			puts[i] = types.Put{TableName: table, Item: it.Item, ConditionExpression: cond, ExpressionAttributeNames: names, ExpressionAttributeValues: values}
			tx[i] = types.TransactWriteItem{Put: &puts[i]}
		}
		if err := w.wait(ctx, units); err != nil {
			return res, err
		}
		res.Calls++
		_, err := w.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx}, retry.NoSDKRetry)
		if err == nil {
			res.Written += len(group)
			return res, nil
		}
		var (
			tce *types.TransactionCanceledException
			ve  *smithyValidation
		)
		switch {
		case errors.As(err, &tce) && len(tce.CancellationReasons) == len(group):
			again, retryable, serr := settle(&res, group, tce)
			if serr != nil {
				return res, serr
			}
			if group = again; !retryable || len(group) == 0 {
				continue
			}
		case isValidation(err, &ve):
			// One bad item fails the whole call: isolate it.
			for _, it := range group {
				r, err := w.put(ctx, it, true, failed)
				res.add(r)
				if err != nil {
					return res, err
				}
			}
			return res, nil
		case !retry.Retryable(err):
			return res, fmt.Errorf("writing %d items in a transaction: %w", len(group), err)
		}
		if failed++; w.retry.Last(failed) {
			return res, fmt.Errorf("writing %d items in a transaction: %w after %d attempts: %w", len(group), retry.ErrExhausted, failed, err)
		}
		if err := w.retry.Wait(ctx, failed); err != nil {
			return res, err
		}
	}
	return res, nil
}

// settle counts the items of a cancelled transaction whose guard failed
// (lost to newer state: skipped) or that DynamoDB refuses (dead letters),
// and returns the rest to retry alone: those only cancelled along with them
// (None), throttled or in a conflict; retryable says whether any was
// throttled or in a conflict (the retry waits). Another reason is an error.
func settle(res *Result, group []Item, tce *types.TransactionCanceledException) (again []Item, retryable bool, err error) {
	for i, reason := range tce.CancellationReasons {
		switch code := aws.ToString(reason.Code); {
		case code == "ConditionalCheckFailed":
			res.Skipped++
		case code == "ValidationError":
			res.Dead = append(res.Dead, DeadLetter{Key: group[i].Key, Reason: "DynamoDB refused the item: " + aws.ToString(reason.Message), Item: group[i].Item})
		case code == "None" || code == "":
			again = append(again, group[i])
		case retry.RetryableReason(code):
			again, retryable = append(again, group[i]), true
		default:
			return nil, false, fmt.Errorf("writing item %s in a transaction: cancelled for %s: %w", group[i].Key, code, tce)
		}
	}
	return again, retryable, nil
}

// batchChunk writes up to 25 items with one unconditional BatchWriteItem,
// retrying unprocessed items with backoff.
func (w *Writer) batchChunk(ctx context.Context, chunk []Item) (Result, error) {
	var res Result
	reqs := make([]types.WriteRequest, len(chunk))
	puts := make([]types.PutRequest, len(chunk))
	units := 0
	for i, it := range chunk {
		puts[i].Item = it.Item
		reqs[i] = types.WriteRequest{PutRequest: &puts[i]}
		units += wcu(it, 1)
	}
	if err := w.wait(ctx, units); err != nil {
		return res, err
	}
	for attempt := 1; len(reqs) > 0; attempt++ {
		res.Calls++
		out, err := w.api.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{w.table: reqs}}, retry.NoSDKRetry)
		var ve *smithyValidation
		switch {
		case err == nil:
			left := out.UnprocessedItems[w.table]
			res.Written += len(reqs) - len(left)
			reqs = left
			if len(reqs) == 0 {
				return res, nil
			}
		case isValidation(err, &ve):
			// One bad item fails the whole call: isolate it.
			for _, rq := range reqs {
				it := itemOf(chunk, rq)
				r, err := w.put(ctx, it, false, attempt-1)
				res.add(r)
				if err != nil {
					return res, err
				}
			}
			return res, nil
		case !retry.Retryable(err):
			return res, fmt.Errorf("writing a batch of %d items: %w", len(reqs), err)
		}
		if w.retry.Last(attempt) {
			if err == nil {
				err = errors.New("the table is throttled")
			}
			return res, fmt.Errorf("writing a batch: %d items still unwritten, %w after %d attempts: %w", len(reqs), retry.ErrExhausted, attempt, err)
		}
		if err := w.retry.Wait(ctx, attempt); err != nil {
			return res, err
		}
	}
	return res, nil
}

func itemOf(chunk []Item, rq types.WriteRequest) Item {
	pk := rq.PutRequest.Item[codec.AttrPK]
	for _, it := range chunk {
		if it.Item[codec.AttrPK] == pk {
			return it
		}
	}
	return Item{Item: rq.PutRequest.Item}
}

type smithyValidation struct{ msg string }

// isValidation reports a ValidationException: the request (an item) is
// refused for good.
func isValidation(err error, out **smithyValidation) bool {
	var ae interface {
		ErrorCode() string
		ErrorMessage() string
	}
	if errors.As(err, &ae) && ae.ErrorCode() == "ValidationException" {
		*out = &smithyValidation{msg: ae.ErrorMessage()}
		return true
	}
	return false
}

// Stream writes items as they come, in the writer's mode: it groups them as
// Write does (one per PutItem, 25 per BatchWriteItem, up to 100 and 3.5 MB
// per TransactWriteItems) and writes each full group while the caller
// produces the next items: on its own up to Concurrency calls in flight, or,
// made by Pool.Stream, on the pool's shared callers. Add blocks while the
// calls are all busy. A Stream is used by one goroutine; Close it once, also
// after an error.
type Stream struct {
	w      *Writer
	ctx    context.Context
	cancel context.CancelCauseFunc
	write  func(context.Context, []Item) (Result, error)
	max    int
	group  []Item
	bytes  int
	// submit hands a full group to whoever writes it.
	submit func(group []Item)
	wg     sync.WaitGroup

	// onDone, when set, sees each group's result as its call ends.
	onDone func(Result)

	mu  sync.Mutex
	res Result
	err error
}

// OnDone sets f to see each group's result as soon as its call ends (for
// progress: Close's total comes only at the end). Set it before the first
// Add; f runs on the writing goroutines, concurrently.
func (s *Stream) OnDone(f func(Result)) { s.onDone = f }

// Stream starts a stream of writes with its own Concurrency calls in
// flight; ctx bounds every call.
func (w *Writer) Stream(ctx context.Context) *Stream {
	s := w.newStream(ctx)
	slots := make(chan struct{}, w.concurrency)
	s.submit = func(group []Item) {
		select {
		case slots <- struct{}{}:
		case <-s.ctx.Done():
			s.done(Result{}, context.Cause(s.ctx))
			return
		}
		go func() {
			defer func() { <-slots }()
			s.done(s.write(s.ctx, group))
		}()
	}
	return s
}

func (w *Writer) newStream(ctx context.Context) *Stream {
	ctx, cancel := context.WithCancelCause(ctx)
	s := &Stream{w: w, ctx: ctx, cancel: cancel}
	switch w.mode {
	case Transact:
		s.write, s.max = w.transactGroup, 100
	case Batch:
		s.write, s.max = w.batchChunk, 25
	default:
		s.write, s.max = func(ctx context.Context, g []Item) (Result, error) { return w.put(ctx, g[0], true, 0) }, 1
	}
	return s
}

// done records one group's result; the first error ends the stream.
func (s *Stream) done(r Result, err error) {
	s.mu.Lock()
	s.res.add(r)
	if err != nil && s.err == nil {
		s.err = err
		s.cancel(err)
	}
	s.mu.Unlock()
	if s.onDone != nil {
		s.onDone(r)
	}
	s.wg.Done()
}

// Add queues it, and sends its group when full. An error means a write
// failed (Close returns it) or ctx ended: stop adding.
func (s *Stream) Add(it Item) error {
	if err := s.ctx.Err(); err != nil {
		return context.Cause(s.ctx)
	}
	if dead, bad := it.sized(); bad {
		s.mu.Lock()
		s.res.Dead = append(s.res.Dead, dead)
		s.mu.Unlock()
		return nil
	}
	if len(s.group) > 0 && s.w.mode == Transact && s.bytes+it.size > 3_500_000 {
		s.flush()
	}
	if s.group == nil {
		s.group = make([]Item, 0, s.max)
	}
	s.group = append(s.group, it)
	s.bytes += it.size
	if len(s.group) == s.max {
		s.flush()
	}
	return nil
}

func (s *Stream) flush() {
	group := s.group
	s.group, s.bytes = nil, 0
	s.wg.Add(1)
	s.submit(group)
}

// Close sends the last group, waits for every call and returns what the
// stream did, like Write.
func (s *Stream) Close() (Result, error) {
	if len(s.group) > 0 {
		s.flush() // when ctx has ended, this records why
	}
	s.wg.Wait()
	s.cancel(nil)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.res, s.err
}

// Pool is a fixed set of callers shared by many streams: each stream's full
// groups queue for the next free caller, so the calls stay in flight while
// any stream has items, even when the others are between chunks.
type Pool struct {
	w    *Writer
	jobs chan poolJob
	wg   sync.WaitGroup
}

type poolJob struct {
	s     *Stream
	group []Item
}

// NewPool starts calls callers. Close the pool after its streams.
func (w *Writer) NewPool(calls int) *Pool {
	if calls <= 0 {
		calls = w.concurrency
	}
	p := &Pool{w: w, jobs: make(chan poolJob, calls)}
	for range calls {
		p.wg.Go(func() {
			for j := range p.jobs {
				if err := context.Cause(j.s.ctx); err != nil {
					j.s.done(Result{}, err)
					continue
				}
				j.s.done(j.s.write(j.s.ctx, j.group))
			}
		})
	}
	return p
}

// Stream starts a stream written by the pool's callers; ctx bounds its
// calls.
func (p *Pool) Stream(ctx context.Context) *Stream {
	s := p.w.newStream(ctx)
	s.submit = func(group []Item) {
		select {
		case p.jobs <- poolJob{s: s, group: group}:
		case <-s.ctx.Done():
			s.done(Result{}, context.Cause(s.ctx))
		}
	}
	return s
}

// Close stops the callers once the queued groups are written.
func (p *Pool) Close() {
	close(p.jobs)
	p.wg.Wait()
}
