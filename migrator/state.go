package migrator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/deadletter"
	"github.com/anycompany/strangler/internal/position"
	"github.com/anycompany/strangler/internal/retry"
)

// The backfill's resume state lives in the control table, so a rerun (on any
// machine) picks up where the last one stopped and several workers can share
// one job:
//
//	pk "backfill#<job>", sk "job":           plan state, chunk count, rows, and
//	                                         the start position: the lowest
//	                                         position any finished chunk was
//	                                         stamped with, where the cdc must
//	                                         start (its format is the contract
//	                                         control.LoadBackfillStart reads).
//	pk "backfill#<job>", sk "chunk#<n>":     bounds, state (pending, leased,
//	                                         done), lease owner and expiry,
//	                                         reads (leases taken), rows written.
//
// A row that could not be written is a dead letter (internal/deadletter,
// source backfill) with its full row image and its chunk's position.
//
// A chunk is leased with a conditional update (free, or its lease expired),
// renewed while it is worked on, and marked done only by its owner, so a
// worker killed at any moment leaves at most its leased chunks to be redone.

// ControlAPI is the part of the DynamoDB client the job state needs.
type ControlAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Job states.
const (
	jobPlanning = "planning"
	jobPlanned  = "planned"
	jobDone     = "done"
)

// Chunk states.
const (
	chunkPending = "pending"
	chunkLeased  = "leased"
	chunkDone    = "done"
)

// JobState is the job item.
type JobState struct {
	State     string
	Planner   string
	Chunks    int
	TotalRows int64
	// StartPos is where the cdc must start (Set false until a chunk finished).
	StartPos    position.Position
	StartPosSet bool
	UpdatedAt   time.Time
}

// Chunk is one chunk item.
type Chunk struct {
	N           int
	Lo, Hi      Bound
	PlannedRows int
	State       string
	Owner       string
	LeaseUntil  time.Time
	Reads       int
	Rows        int
}

// JobStore reads and writes one job's state in the control table. It is safe
// for concurrent use.
type JobStore struct {
	api   ControlAPI
	table string
	pk    string
	now   func() time.Time
}

// NewJobStore returns the store of job in table.
func NewJobStore(api ControlAPI, table, job string, now func() time.Time) *JobStore {
	if now == nil {
		now = time.Now
	}
	return &JobStore{api: api, table: table, pk: control.BackfillPK(job), now: now}
}

func (j *JobStore) key(sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{control.PK: control.S(j.pk), control.SK: control.S(sk)}
}

func chunkSK(i int) string { return fmt.Sprintf("chunk#%08d", i) }

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// Job reads the job item; ok is false when there is none.
func (j *JobStore) Job(ctx context.Context) (JobState, bool, error) {
	out, err := j.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(j.table), Key: j.key(control.BackfillJobSK), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return JobState{}, false, fmt.Errorf("reading the backfill job: %w", err)
	}
	if out.Item == nil {
		return JobState{}, false, nil
	}
	js := JobState{
		State: control.Str(out.Item, "state"), Planner: control.Str(out.Item, "planner"),
		Chunks: int(control.Int(out.Item, "chunks")), TotalRows: control.Int(out.Item, "total_rows"),
		UpdatedAt: time.UnixMilli(control.Int(out.Item, "updated_ms")),
	}
	js.StartPos, js.StartPosSet, err = control.BackfillStart(out.Item)
	return js, true, err
}

// ClaimPlanning makes owner the planner of a job that has none, or whose
// planner went silent for ttl. It reports whether owner may plan.
func (j *JobStore) ClaimPlanning(ctx context.Context, owner string, ttl time.Duration) (bool, error) {
	now := j.now()
	_, err := j.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(j.table),
		Item: map[string]types.AttributeValue{
			control.PK: control.S(j.pk), control.SK: control.S(control.BackfillJobSK), "state": control.S(jobPlanning), "planner": control.S(owner),
			"updated_ms": control.N(now.UnixMilli()), "created": control.S(now.UTC().Format(time.RFC3339)),
		},
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR (#st = :planning AND #up < :stale)"),
		ExpressionAttributeNames:  map[string]string{"#st": "state", "#pk": "pk", "#up": "updated_ms"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":planning": control.S(jobPlanning), ":stale": control.N(now.Add(-ttl).UnixMilli())},
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claiming the backfill plan: %w", err)
	}
	return true, nil
}

// SavePlan writes the chunk items and marks the job planned.
// pos, read before planning, is the first cdc start position: every chunk's
// snapshot begins after it.
func (j *JobStore) SavePlan(ctx context.Context, owner string, bounds []Bound, counts []int, pos position.Position) error {
	var reqs []types.WriteRequest
	var total int64
	prev := Bound{}
	for i, b := range bounds {
		item := j.key(chunkSK(i))
		item["state"] = control.S(chunkPending)
		item["planned_rows"] = control.N(int64(counts[i]))
		item["reads"] = control.N(0)
		if prev.Set {
			item["lo"] = control.S(prev.Value)
		}
		if b.Set {
			item["hi"] = control.S(b.Value)
		}
		total += int64(counts[i])
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
		prev = b
	}
	for failed, p := 0, retry.DynamoDB(); len(reqs) > 0; {
		batch := reqs[:min(25, len(reqs))]
		out, err := j.api.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{j.table: batch}})
		if err != nil {
			return fmt.Errorf("saving the chunk plan: %w", err)
		}
		left := out.UnprocessedItems[j.table]
		if reqs = append(left, reqs[len(batch):]...); len(left) > 0 {
			// Throttled: wait before the rest; calls that made no
			// progress count against the policy's attempts.
			if len(left) < len(batch) {
				failed = 0
			}
			if failed++; p.Last(failed) {
				return fmt.Errorf("saving the chunk plan: %d items unprocessed, %w after %d attempts", len(left), retry.ErrExhausted, failed)
			}
			if err := p.Wait(ctx, failed); err != nil {
				return err
			}
		}
	}
	num, resume, kind := control.StartValues(pos)
	_, err := j.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(j.table), Key: j.key(control.BackfillJobSK),
		UpdateExpression:         aws.String("SET #st = :planned, #chunks = :c, #total = :t, #up = :now, #sp = :p, #sr = :r, #sk = :k"),
		ConditionExpression:      aws.String("#st = :planning AND #planner = :me"),
		ExpressionAttributeNames: map[string]string{"#st": "state", "#chunks": "chunks", "#total": "total_rows", "#up": "updated_ms", "#sp": control.AttrStartPos, "#sr": control.AttrStartResume, "#sk": control.AttrStartKind, "#planner": "planner"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":planned": control.S(jobPlanned), ":planning": control.S(jobPlanning), ":me": control.S(owner),
			":c": control.N(int64(len(bounds))), ":t": control.N(total), ":now": control.N(j.now().UnixMilli()),
			":p": num, ":r": resume, ":k": kind},
	})
	if isConditionFailed(err) {
		return errors.New("another worker took over planning this backfill job; rerun to join it")
	}
	if err != nil {
		return fmt.Errorf("marking the backfill job planned: %w", err)
	}
	return nil
}

// Chunks lists every chunk of the job.
func (j *JobStore) Chunks(ctx context.Context) ([]Chunk, error) {
	var out []Chunk
	var start map[string]types.AttributeValue
	for {
		page, err := j.api.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(j.table),
			KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :c)"),
			ExpressionAttributeNames:  map[string]string{"#pk": control.PK, "#sk": control.SK},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": control.S(j.pk), ":c": control.S("chunk#")},
			ConsistentRead:            aws.Bool(true),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, fmt.Errorf("listing backfill chunks: %w", err)
		}
		for _, it := range page.Items {
			c := Chunk{
				State: control.Str(it, "state"), Owner: control.Str(it, "owner"), LeaseUntil: time.UnixMilli(control.Int(it, "lease_until")),
				Reads: int(control.Int(it, "reads")), Rows: int(control.Int(it, "rows")), PlannedRows: int(control.Int(it, "planned_rows")),
			}
			fmt.Sscanf(control.Str(it, control.SK), "chunk#%d", &c.N) //nolint:errcheck // our own format
			if v := control.Str(it, "lo"); it["lo"] != nil {
				c.Lo = Bound{Set: true, Value: v}
			}
			if v := control.Str(it, "hi"); it["hi"] != nil {
				c.Hi = Bound{Set: true, Value: v}
			}
			out = append(out, c)
		}
		if page.LastEvaluatedKey == nil {
			return out, nil
		}
		start = page.LastEvaluatedKey
	}
}

// Lease takes chunk i for owner if it is pending or its lease expired.
func (j *JobStore) Lease(ctx context.Context, i int, owner string, ttl time.Duration) (bool, error) {
	now := j.now()
	_, err := j.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(j.table), Key: j.key(chunkSK(i)),
		UpdateExpression:          aws.String("SET #st = :leased, #owner = :me, #until = :until ADD #reads :one"),
		ConditionExpression:       aws.String("#st = :pending OR (#st = :leased AND #until < :now)"),
		ExpressionAttributeNames:  map[string]string{"#st": "state", "#owner": "owner", "#until": "lease_until", "#reads": "reads"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":leased": control.S(chunkLeased), ":pending": control.S(chunkPending), ":me": control.S(owner), ":until": control.N(now.Add(ttl).UnixMilli()), ":now": control.N(now.UnixMilli()), ":one": control.N(1)},
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("leasing chunk %d: %w", i, err)
	}
	return true, nil
}

// ErrLeaseLost means another worker took the chunk (this one was too slow
// to renew): drop the chunk, its writes were guarded or will be redone.
var ErrLeaseLost = errors.New("chunk lease lost")

// Renew extends owner's lease of chunk i.
func (j *JobStore) Renew(ctx context.Context, i int, owner string, ttl time.Duration) error {
	_, err := j.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(j.table), Key: j.key(chunkSK(i)),
		UpdateExpression:          aws.String("SET #until = :until"),
		ConditionExpression:       aws.String("#st = :leased AND #owner = :me"),
		ExpressionAttributeNames:  map[string]string{"#st": "state", "#owner": "owner", "#until": "lease_until"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":leased": control.S(chunkLeased), ":me": control.S(owner), ":until": control.N(j.now().Add(ttl).UnixMilli())},
	})
	if isConditionFailed(err) {
		return ErrLeaseLost
	}
	if err != nil {
		return fmt.Errorf("renewing the lease of chunk %d: %w", i, err)
	}
	return nil
}

// Finish marks owner's chunk i done with its figures, and lowers the job's
// start position to pos if pos is lower.
func (j *JobStore) Finish(ctx context.Context, i int, owner string, rows, skipped, dead int, pos position.Position) error {
	_, err := j.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(j.table), Key: j.key(chunkSK(i)),
		UpdateExpression:          aws.String("SET #st = :done, #rows = :rows, #skipped = :skipped, #dead = :dead, #pos = :pos, #fin = :now"),
		ConditionExpression:       aws.String("#st = :leased AND #owner = :me"),
		ExpressionAttributeNames:  map[string]string{"#st": "state", "#owner": "owner", "#rows": "rows", "#skipped": "skipped", "#dead": "dead", "#pos": "pos", "#fin": "finished_ms"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":done": control.S(chunkDone), ":leased": control.S(chunkLeased), ":me": control.S(owner), ":rows": control.N(int64(rows)), ":skipped": control.N(int64(skipped)), ":dead": control.N(int64(dead)), ":pos": control.S(pos.String()), ":now": control.N(j.now().UnixMilli())},
	})
	if isConditionFailed(err) {
		return ErrLeaseLost
	}
	if err != nil {
		return fmt.Errorf("marking chunk %d done: %w", i, err)
	}
	num, resume, kind := control.StartValues(pos)
	_, err = j.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(j.table), Key: j.key(control.BackfillJobSK),
		UpdateExpression:          aws.String("SET #sp = :p, #sr = :r, #sk = :k, #up = :now"),
		ConditionExpression:       aws.String("attribute_not_exists(#sp) OR #sp > :p"),
		ExpressionAttributeNames:  map[string]string{"#sp": control.AttrStartPos, "#sr": control.AttrStartResume, "#sk": control.AttrStartKind, "#up": "updated_ms"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": num, ":r": resume, ":k": kind, ":now": control.N(j.now().UnixMilli())},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("recording the cdc start position: %w", err)
	}
	return nil
}

// MarkDone marks the whole job done.
func (j *JobStore) MarkDone(ctx context.Context) error {
	_, err := j.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(j.table), Key: j.key(control.BackfillJobSK),
		UpdateExpression:          aws.String("SET #st = :done, #up = :now"),
		ExpressionAttributeNames:  map[string]string{"#st": "state", "#up": "updated_ms"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":done": control.S(jobDone), ":now": control.N(j.now().UnixMilli())},
	})
	if err != nil {
		return fmt.Errorf("marking the backfill job done: %w", err)
	}
	return nil
}

// DeadLetter records a row that could not be written, with its row image
// (codec.Mapping.RowText) and the position of the snapshot it was read in.
func (j *JobStore) DeadLetter(ctx context.Context, table, key, pos, reason string, row map[string][]byte) error {
	r := deadletter.Record{ID: deadletter.ItemID(key, pos), Kind: deadletter.Item, Key: key, Position: pos, Reason: reason,
		Payload: deadletter.Payload{Row: deadletter.NewRow(table, row)}}
	return deadletter.NewSink(j.api, j.table, deadletter.Backfill, j.now).Add(ctx, r)
}
