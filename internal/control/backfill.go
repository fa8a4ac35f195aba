package control

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/anycompany/strangler/internal/position"
)

// The backfill's job item (pk BackfillPK(job), sk BackfillJobSK) is the
// contract between the backfill, which records on it where the cdc must
// start, and the cdc, which starts there. The start position is the lowest
// position any finished chunk was stamped with, kept in three attributes
// written together: AttrStartPos (its Number, compared in the backfill's
// conditions), AttrStartResume and AttrStartKind (its Resume form and Kind,
// to read it back). The job item's other attributes are the backfill's own.
const (
	BackfillJobSK   = "job"
	AttrStartPos    = "start_pos"
	AttrStartResume = "start_resume"
	AttrStartKind   = "start_kind"
)

// BackfillPK is the partition key of the backfill job's items.
func BackfillPK(job string) string { return "backfill#" + job }

// StartValues returns p as the values of AttrStartPos, AttrStartResume and
// AttrStartKind.
func StartValues(p position.Position) (num, resume, kind types.AttributeValue) {
	return &types.AttributeValueMemberN{Value: p.Number()}, S(p.Resume()), N(int64(p.Kind))
}

// BackfillStart reads the start position recorded on a job item, at the end
// of its transaction; ok is false while none is recorded.
func BackfillStart(item map[string]types.AttributeValue) (p position.Position, ok bool, err error) {
	r := Str(item, AttrStartResume)
	if r == "" && item[AttrStartPos] == nil {
		return position.Position{}, false, nil
	}
	p, err = position.ParseResume(position.Kind(Int(item, AttrStartKind)), r)
	if err != nil {
		return position.Position{}, true, fmt.Errorf("reading the backfill job's start position %q: %w", r, err)
	}
	return p.At(position.EndOfTransaction), true, nil
}

// ItemGetter is the DynamoDB call LoadBackfillStart makes.
type ItemGetter interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// LoadBackfillStart reads the start position backfill job recorded in
// table; ok is false when there is no such job or no chunk of it finished.
func LoadBackfillStart(ctx context.Context, api ItemGetter, table, job string) (position.Position, bool, error) {
	out, err := api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{PK: S(BackfillPK(job)), SK: S(BackfillJobSK)}})
	if err != nil {
		return position.Position{}, false, fmt.Errorf("reading backfill job %s: %w", job, err)
	}
	return BackfillStart(out.Item)
}
