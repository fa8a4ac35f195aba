package control

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// What the console reads of the migration's progress, from the items the
// backfill and verify write:
//
//	pk BackfillPK(job), sk BackfillJobSK:  "state", "chunks", "total_rows", "created" (RFC 3339), "updated_ms"
//	pk BackfillPK(job), sk "chunk#<n>":    "state" (done when finished), "rows" written
//	pk VerifyPK(table), sk VerifyLastSK:   verify's last full run (VerifyItem)
//
// The backfill's attribute names are written by migrator/state.go; this is
// the contract the two meet on.
const (
	VerifyLastSK = "last"
	chunkPrefix  = "chunk#"
)

// VerifyPK is the partition key of verify's results for a DynamoDB table.
func VerifyPK(table string) string { return "verify#" + table }

// Querier is the DynamoDB call LoadBackfillProgress makes.
type Querier interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// BackfillProgress is a backfill job's progress. A plain value.
type BackfillProgress struct {
	Job        string    `json:"job"`
	State      string    `json:"state"`
	Chunks     int       `json:"chunks"`
	ChunksDone int       `json:"chunks_done"`
	TotalRows  int64     `json:"total_rows"`
	RowsDone   int64     `json:"rows_done"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
}

// LoadBackfillProgress reads job's items; ok is false when there is no such job.
func LoadBackfillProgress(ctx context.Context, api Querier, table, job string) (p BackfillProgress, ok bool, err error) {
	p.Job = job
	pager := dynamodb.NewQueryPaginator(api, &dynamodb.QueryInput{TableName: aws.String(table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": PK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": S(BackfillPK(job))}})
	for pager.HasMorePages() {
		out, err := pager.NextPage(ctx)
		if err != nil {
			return p, false, fmt.Errorf("reading backfill job %s: %w", job, err)
		}
		for _, it := range out.Items {
			switch sk := Str(it, SK); {
			case sk == BackfillJobSK:
				ok = true
				p.State, p.Chunks, p.TotalRows = Str(it, "state"), int(Int(it, "chunks")), Int(it, "total_rows")
				p.Created, _ = time.Parse(time.RFC3339, Str(it, "created"))
				p.Updated = time.UnixMilli(Int(it, "updated_ms"))
			case strings.HasPrefix(sk, chunkPrefix) && Str(it, "state") == "done":
				p.ChunksDone++
				p.RowsDone += Int(it, "rows")
			}
		}
	}
	return p, ok, nil
}

// VerifyResult is verify's last full run over a table. A plain value.
type VerifyResult struct {
	At        time.Time `json:"at"`
	Equal     bool      `json:"equal"`
	Rows      int64     `json:"rows_checked"`
	Items     int64     `json:"items_checked"`
	Missing   int64     `json:"missing"`
	Extra     int64     `json:"extra"`
	Different int64     `json:"different"`
	Repaired  int64     `json:"repaired"`
	// Sample is the percentage of keys checked (100: all).
	Sample float64 `json:"sample"`
}

// VerifyItem is r as the item verify writes for table.
func VerifyItem(table string, r VerifyResult) map[string]types.AttributeValue {
	eq := "false"
	if r.Equal {
		eq = "true"
	}
	return map[string]types.AttributeValue{
		PK: S(VerifyPK(table)), SK: S(VerifyLastSK), "at": S(r.At.UTC().Format(time.RFC3339Nano)), "equal": S(eq),
		"rows_checked": N(r.Rows), "items_checked": N(r.Items), "missing": N(r.Missing), "extra": N(r.Extra),
		"different": N(r.Different), "repaired": N(r.Repaired),
		"sample": &types.AttributeValueMemberN{Value: fmt.Sprint(r.Sample)},
	}
}

// LoadVerifyResult reads table's last verify result; ok is false before any.
func LoadVerifyResult(ctx context.Context, api ItemGetter, control, table string) (r VerifyResult, ok bool, err error) {
	out, err := api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(control), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{PK: S(VerifyPK(table)), SK: S(VerifyLastSK)}})
	if err != nil {
		return r, false, fmt.Errorf("reading verify's last result for %s: %w", table, err)
	}
	it := out.Item
	if it == nil {
		return r, false, nil
	}
	r.At, _ = time.Parse(time.RFC3339Nano, Str(it, "at"))
	r.Equal = Str(it, "equal") == "true"
	r.Rows, r.Items, r.Missing, r.Extra = Int(it, "rows_checked"), Int(it, "items_checked"), Int(it, "missing"), Int(it, "extra")
	r.Different, r.Repaired = Int(it, "different"), Int(it, "repaired")
	if n, ok := it["sample"].(*types.AttributeValueMemberN); ok {
		_, _ = fmt.Sscan(n.Value, &r.Sample)
	}
	return r, true, nil
}
