package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/anycompany/strangler/internal/control"
)

// ErrVersionConflict says a route's persisted state moved on since it was
// read (another replica or operator changed it first).
var ErrVersionConflict = errors.New("route state changed concurrently")

// AuditEntry is one applied change of a route's state. It is a plain value.
type AuditEntry struct {
	At     time.Time  `json:"at"`
	Route  string     `json:"route"`
	Actor  string     `json:"actor"`
	Reason string     `json:"reason"`
	Before RouteState `json:"before"`
	After  RouteState `json:"after"`
}

// ddbAPI is the part of the DynamoDB client the control table uses.
type ddbAPI interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// ControlTable keeps the proxy's state in the control table:
//
//	pk "proxy#<name>"              sk "route#<route>"               mode, weight, version, file_mode, file_weight, actor, reason, updated_at, prev_share
//	                                                                (a write group's state has the same item, under sk "route#<group>")
//	pk "proxy#<name>"              sk "audit#<RFC 3339 time>#<n>"   route, actor, reason, before, after (JSON), at
//	pk "proxy#<name>"              sk "plan#<route>"                record (PlanRecord as JSON), updated_at
//	pk "proxy#<name>"              sk "lease#plans"                 owner, until_ms, renewed_ms (control.Lease: the replica that drives plans)
//	pk "proxy#<name>#pin#<key>"    sk "pin"                         backend, expires_at (TTL, epoch seconds)
//
// A state change writes the route item (conditioned on the version read)
// and its audit item in one transaction, so no change goes unaudited and
// two replicas cannot both win. Pins live in their own partitions so a
// busy proxy spreads them. Never copy one.
type ControlTable struct {
	api   ddbAPI
	table string
	pk    string
	seq   atomicCounter
}

var (
	_ StateStore = (*ControlTable)(nil)
	_ PinStore   = (*ControlTable)(nil)
	_ PlanStore  = (*ControlTable)(nil)
)

// NewControlTable returns the state of proxy group name in table.
func NewControlTable(api ddbAPI, table, name string) *ControlTable {
	return &ControlTable{api: api, table: table, pk: "proxy#" + name}
}

// TTLAttribute is the control table's TTL attribute (epoch seconds).
const TTLAttribute = "expires_at"

func avS(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func avN(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

func fnum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func str(item map[string]types.AttributeValue, k string) string {
	if v, ok := item[k].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func num(item map[string]types.AttributeValue, k string) float64 {
	if v, ok := item[k].(*types.AttributeValueMemberN); ok {
		f, _ := strconv.ParseFloat(v.Value, 64)
		return f
	}
	return 0
}

// LoadRoutes returns every persisted route state by route name.
func (c *ControlTable) LoadRoutes(ctx context.Context) (map[string]RouteState, error) {
	out := map[string]RouteState{}
	p := dynamodb.NewQueryPaginator(c.api, &dynamodb.QueryInput{
		TableName:                 aws.String(c.table),
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": avS(c.pk), ":p": avS("route#")},
		ConsistentRead:            aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading route states from %s: %w", c.table, err)
		}
		for _, it := range page.Items {
			name := strings.TrimPrefix(str(it, control.SK), "route#")
			out[name] = RouteState{
				Mode: Mode(str(it, "mode")), Weight: num(it, "weight"), Version: int64(num(it, "version")),
				UpdatedAt: str(it, "updated_at"), Actor: str(it, "actor"), Reason: str(it, "reason"),
				FileMode: Mode(str(it, "file_mode")), FileWeight: num(it, "file_weight"), PrevShare: num(it, "prev_share"),
			}
		}
	}
	return out, nil
}

// CommitRoute writes next as route's state if the persisted version is
// still prev, together with the audit entry a. It returns
// ErrVersionConflict when another writer got there first.
func (c *ControlTable) CommitRoute(ctx context.Context, route string, prev int64, next RouteState, a AuditEntry) error {
	before, _ := json.Marshal(a.Before)
	after, _ := json.Marshal(a.After)
	item := map[string]types.AttributeValue{
		control.PK: avS(c.pk), control.SK: avS("route#" + route),
		"mode": avS(string(next.Mode)), "weight": avN(fnum(next.Weight)), "version": avN(strconv.FormatInt(next.Version, 10)),
		"file_mode": avS(string(next.FileMode)), "file_weight": avN(fnum(next.FileWeight)),
		"actor": avS(next.Actor), "reason": avS(next.Reason), "updated_at": avS(next.UpdatedAt),
		"prev_share": avN(fnum(next.PrevShare)),
	}
	audit := map[string]types.AttributeValue{
		control.PK: avS(c.pk), control.SK: avS(fmt.Sprintf("audit#%s#%06d", a.At.UTC().Format("2006-01-02T15:04:05.000000Z"), c.seq.next()%1000000)),
		"route": avS(route), "actor": avS(a.Actor), "reason": avS(a.Reason), "at": avS(a.At.UTC().Format(time.RFC3339Nano)),
		"before": avS(string(before)), "after": avS(string(after)),
	}
	_, err := c.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{
			TableName: aws.String(c.table), Item: item,
			ConditionExpression:       aws.String("attribute_not_exists(pk) OR version = :prev"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":prev": avN(strconv.FormatInt(prev, 10))},
		}},
		{Put: &types.Put{TableName: aws.String(c.table), Item: audit, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
	}})
	var tc *types.TransactionCanceledException
	if errors.As(err, &tc) {
		for _, r := range tc.CancellationReasons {
			if aws.ToString(r.Code) == "ConditionalCheckFailed" {
				return fmt.Errorf("committing route %s version %d: %w", route, next.Version, ErrVersionConflict)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("committing route %s version %d: %w", route, next.Version, err)
	}
	return nil
}

// Audit returns the newest audit entries first, of one route or of all
// when route is empty, at most limit.
func (c *ControlTable) Audit(ctx context.Context, route string, limit int) ([]AuditEntry, error) {
	var out []AuditEntry
	p := dynamodb.NewQueryPaginator(c.api, &dynamodb.QueryInput{
		TableName:                 aws.String(c.table),
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": avS(c.pk), ":p": avS("audit#")},
		ScanIndexForward:          aws.Bool(false),
	})
	for p.HasMorePages() && len(out) < limit {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the audit log from %s: %w", c.table, err)
		}
		for _, it := range page.Items {
			if route != "" && str(it, "route") != route {
				continue
			}
			e := AuditEntry{Route: str(it, "route"), Actor: str(it, "actor"), Reason: str(it, "reason")}
			e.At, _ = time.Parse(time.RFC3339Nano, str(it, "at"))
			_ = json.Unmarshal([]byte(str(it, "before")), &e.Before)
			_ = json.Unmarshal([]byte(str(it, "after")), &e.After)
			out = append(out, e)
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

// Pin records b for key unless a live pin exists, in one conditional write.
func (c *ControlTable) Pin(ctx context.Context, key string, b Backend, now time.Time, ttl time.Duration) (Backend, time.Time, error) {
	expires := now.Add(ttl)
	if len(key) > 200 {
		// DynamoDB keys are bounded (2 KiB); a digest stands for a long key.
		sum := sha256.Sum256([]byte(key))
		key = "sha256:" + hex.EncodeToString(sum[:])
	}
	pk := c.pk + "#pin#" + key
	_, err := c.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(c.table),
		Item: map[string]types.AttributeValue{
			control.PK: avS(pk), control.SK: avS("pin"), "backend": avS(string(b)),
			TTLAttribute: avN(strconv.FormatInt(expires.Unix(), 10)),
		},
		// An expired pin that TTL has not deleted yet is as good as absent.
		ConditionExpression:                 aws.String("attribute_not_exists(pk) OR expires_at <= :now"),
		ExpressionAttributeValues:           map[string]types.AttributeValue{":now": avN(strconv.FormatInt(now.Unix(), 10))},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return b, expires, nil
	}
	var cf *types.ConditionalCheckFailedException
	if !errors.As(err, &cf) {
		return "", time.Time{}, fmt.Errorf("pinning key in %s: %w", c.table, err)
	}
	item := cf.Item
	if item == nil {
		got, gerr := c.api.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:      aws.String(c.table),
			Key:            map[string]types.AttributeValue{control.PK: avS(pk), control.SK: avS("pin")},
			ConsistentRead: aws.Bool(true),
		})
		if gerr != nil {
			return "", time.Time{}, fmt.Errorf("reading pin in %s: %w", c.table, gerr)
		}
		item = got.Item
	}
	held, ok := ParseBackend(str(item, "backend"))
	if !ok {
		return "", time.Time{}, fmt.Errorf("pin of key in %s names no backend", c.table)
	}
	return held, time.Unix(int64(num(item, TTLAttribute)), 0), nil
}

// SavePlan stores route's plan record.
func (c *ControlTable) SavePlan(ctx context.Context, route string, rec PlanRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encoding plan of %s: %w", route, err)
	}
	_, err = c.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(c.table),
		Item: map[string]types.AttributeValue{
			control.PK: avS(c.pk), control.SK: avS("plan#" + route),
			"record": avS(string(b)), "updated_at": avS(time.Now().UTC().Format(time.RFC3339Nano)),
		},
	})
	if err != nil {
		return fmt.Errorf("saving plan of %s in %s: %w", route, c.table, err)
	}
	return nil
}

// LoadPlans returns every saved plan record by route.
func (c *ControlTable) LoadPlans(ctx context.Context) (map[string]PlanRecord, error) {
	out := map[string]PlanRecord{}
	p := dynamodb.NewQueryPaginator(c.api, &dynamodb.QueryInput{
		TableName:                 aws.String(c.table),
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": avS(c.pk), ":p": avS("plan#")},
		ConsistentRead:            aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading plans from %s: %w", c.table, err)
		}
		for _, it := range page.Items {
			var rec PlanRecord
			if err := json.Unmarshal([]byte(str(it, "record")), &rec); err != nil {
				return nil, fmt.Errorf("decoding plan %s in %s: %w", str(it, control.SK), c.table, err)
			}
			out[strings.TrimPrefix(str(it, control.SK), "plan#")] = rec
		}
	}
	return out, nil
}

// atomicCounter numbers audit entries written within one microsecond.
type atomicCounter struct {
	mu sync.Mutex
	n  int
}

func (a *atomicCounter) next() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n++
	return a.n
}

// MemoryStore keeps state, audit and pins in memory: one replica, lost on
// restart. It is for control.table: "" (benchmarks, experiments). Expired
// pins are swept whenever the pins doubled since the last sweep, and at
// most MaxPins are kept (at it, arbitrary live ones are dropped: memory
// stays bounded whatever clients send). Never copy one.
type MemoryStore struct {
	// MaxPins bounds the pins kept. Set it before use; 0 means 100000.
	MaxPins int

	mu        sync.Mutex
	routes    map[string]RouteState
	audit     []AuditEntry
	pins      map[string]pinEntry
	nextSweep int
	plans     map[string]PlanRecord
}

var (
	_ StateStore = (*MemoryStore)(nil)
	_ PinStore   = (*MemoryStore)(nil)
	_ PlanStore  = (*MemoryStore)(nil)
)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{routes: map[string]RouteState{}, pins: map[string]pinEntry{}, plans: map[string]PlanRecord{}}
}

// LoadRoutes implements StateStore.
func (m *MemoryStore) LoadRoutes(context.Context) (map[string]RouteState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]RouteState, len(m.routes))
	for k, v := range m.routes {
		out[k] = v
	}
	return out, nil
}

// CommitRoute implements StateStore.
func (m *MemoryStore) CommitRoute(_ context.Context, route string, prev int64, next RouteState, a AuditEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.routes[route]; ok && cur.Version != prev {
		return fmt.Errorf("committing route %s version %d: %w", route, next.Version, ErrVersionConflict)
	}
	m.routes[route] = next
	m.audit = append(m.audit, a)
	return nil
}

// Audit implements StateStore.
func (m *MemoryStore) Audit(_ context.Context, route string, limit int) ([]AuditEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []AuditEntry
	for i := len(m.audit) - 1; i >= 0 && len(out) < limit; i-- {
		if route == "" || m.audit[i].Route == route {
			out = append(out, m.audit[i])
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.After(out[j].At) })
	return out, nil
}

// SavePlan implements PlanStore.
func (m *MemoryStore) SavePlan(_ context.Context, route string, rec PlanRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.plans[route] = rec
	return nil
}

// LoadPlans implements PlanStore.
func (m *MemoryStore) LoadPlans(context.Context) (map[string]PlanRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]PlanRecord, len(m.plans))
	for k, v := range m.plans {
		out[k] = v
	}
	return out, nil
}

// Pin implements PinStore.
func (m *MemoryStore) Pin(_ context.Context, key string, b Backend, now time.Time, ttl time.Duration) (Backend, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.pins[key]; ok && now.Before(p.expires) {
		return p.backend, p.expires, nil
	}
	if len(m.pins) >= m.nextSweep {
		m.sweepPins(now)
	}
	m.pins[key] = pinEntry{key: key, backend: b, expires: now.Add(ttl)}
	return b, now.Add(ttl), nil
}

// sweepPins drops the expired pins and, at MaxPins, arbitrary live ones
// down to three quarters of it (so sweeps stay rare under a flood).
func (m *MemoryStore) sweepPins(now time.Time) {
	limit := m.MaxPins
	if limit <= 0 {
		limit = 100000
	}
	for k, p := range m.pins {
		if !now.Before(p.expires) {
			delete(m.pins, k)
		}
	}
	if len(m.pins) >= limit {
		for k := range m.pins {
			if len(m.pins) <= limit*3/4 {
				break
			}
			delete(m.pins, k)
		}
	}
	m.nextSweep = min(max(2*len(m.pins), 1024), limit)
}
