package cdc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/control"
)

// SweepDataAPI is the part of the (fenced) DynamoDB client a Sweeper uses
// on the orders table.
type SweepDataAPI interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// SweepControlAPI is the part of the DynamoDB client a Sweeper uses on the
// control table.
type SweepControlAPI interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

var (
	_ SweepDataAPI    = fencedDynamoDB{}
	_ SweepControlAPI = (*dynamodb.Client)(nil)
)

// Sweep is a DDL that dropped mapped columns: every item written from an
// older position still holds their attributes until its row changes again.
type Sweep struct {
	// Pos is the DDL's encoded position (position.Position.Number).
	Pos string
	// Attrs are the dropped columns' attributes.
	Attrs []string
	// Cursor is the last item key swept (resume after it); empty at first.
	Cursor string
}

// Sweeper removes dropped columns' attributes from items older than the
// DDL that dropped them: a Scan for items still holding one, and for each a
// guarded UpdateItem REMOVE with the condition src_pos < the DDL's
// position, so an item rewritten since (without the column) is left alone.
// Sweeps are recorded in the control table (pk cdc#<name>, sk
// sweep#<pos>) before the checkpoint passes their DDL, and their cursor
// after every page, so a sweep cut by a crash or a lost lease resumes where
// it was. It is safe for concurrent use.
type Sweeper struct {
	data    SweepDataAPI
	ctl     SweepControlAPI
	table   string
	control string
	pk      string
	log     *slog.Logger
	// onSwept counts items swept (metrics). Optional.
	onSwept func(int)
}

// NewSweeper returns the sweeper of the orders table for the cdc whose
// control items are under pk.
func NewSweeper(data SweepDataAPI, ctl SweepControlAPI, table, controlTable, pk string, log *slog.Logger, onSwept func(int)) *Sweeper {
	if onSwept == nil {
		onSwept = func(int) {}
	}
	return &Sweeper{data: data, ctl: ctl, table: table, control: controlTable, pk: pk, log: log, onSwept: onSwept}
}

// droppedAttributes are the attributes of old's columns that new no longer
// maps.
func droppedAttributes(old, new *codec.Mapping) []string {
	var out []string
	for i, c := range old.Columns {
		if i == 0 || old.IsRef(i) {
			continue
		}
		if !slices.ContainsFunc(new.Columns, func(n codec.Column) bool { return n.Attribute == c.Attribute }) {
			out = append(out, c.Attribute)
		}
	}
	return out
}

func (s *Sweeper) key(pos string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{control.PK: control.S(s.pk), control.SK: control.S("sweep#" + pos)}
}

// Record stores sw as pending; it must be durable before the checkpoint
// moves past the DDL.
func (s *Sweeper) Record(ctx context.Context, sw Sweep) error {
	item := s.key(sw.Pos)
	item["position"] = &types.AttributeValueMemberN{Value: sw.Pos}
	item["attrs"] = &types.AttributeValueMemberSS{Value: sw.Attrs}
	if _, err := s.ctl.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.control), Item: item,
		ConditionExpression: aws.String("attribute_not_exists(#pk)"), ExpressionAttributeNames: map[string]string{"#pk": control.PK}}); err != nil && !isConditionFailed(err) {
		return fmt.Errorf("recording the sweep of %v after %s: %w", sw.Attrs, sw.Pos, err)
	}
	return nil
}

// Pending lists the sweeps not finished.
func (s *Sweeper) Pending(ctx context.Context) ([]Sweep, error) {
	var out []Sweep
	p := dynamodb.NewQueryPaginator(s.ctl, &dynamodb.QueryInput{TableName: aws.String(s.control), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :sweep)"),
		ExpressionAttributeNames:  map[string]string{"#pk": control.PK, "#sk": control.SK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": control.S(s.pk), ":sweep": control.S("sweep#")}})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing pending sweeps: %w", err)
		}
		for _, it := range page.Items {
			sw := Sweep{Pos: strings.TrimPrefix(control.Str(it, control.SK), "sweep#"), Cursor: control.Str(it, "cursor")}
			if ss, ok := it["attrs"].(*types.AttributeValueMemberSS); ok {
				sw.Attrs = ss.Value
			}
			out = append(out, sw)
		}
	}
	return out, nil
}

// Run sweeps sw to the end, then deletes its record.
func (s *Sweeper) Run(ctx context.Context, sw Sweep) error {
	names := map[string]string{"#pos": codec.AttrPos}
	var exists, remove []string
	for i, a := range sw.Attrs {
		n := fmt.Sprintf("#a%d", i)
		names[n] = a
		exists = append(exists, "attribute_exists("+n+")")
		remove = append(remove, n)
	}
	vals := map[string]types.AttributeValue{":pos": &types.AttributeValueMemberN{Value: sw.Pos}}
	in := &dynamodb.ScanInput{TableName: aws.String(s.table), ConsistentRead: aws.Bool(true), Limit: aws.Int32(1000),
		FilterExpression:          aws.String("(" + strings.Join(exists, " OR ") + ") AND #pos < :pos"),
		ProjectionExpression:      aws.String("#pk"),
		ExpressionAttributeNames:  mergeNames(names, map[string]string{"#pk": codec.AttrPK}),
		ExpressionAttributeValues: vals,
	}
	if sw.Cursor != "" {
		in.ExclusiveStartKey = map[string]types.AttributeValue{codec.AttrPK: control.S(sw.Cursor)}
	}
	update := "REMOVE " + strings.Join(remove, ", ")
	total := 0
	for {
		page, err := s.data.Scan(ctx, in)
		if err != nil {
			return fmt.Errorf("sweeping %v: scanning: %w", sw.Attrs, err)
		}
		for _, it := range page.Items {
			_, err := s.data.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.table),
				Key: map[string]types.AttributeValue{codec.AttrPK: it[codec.AttrPK]}, UpdateExpression: aws.String(update),
				ConditionExpression: aws.String("#pos < :pos"), ExpressionAttributeNames: names, ExpressionAttributeValues: vals})
			switch {
			case isConditionFailed(err):
				// Rewritten since the DDL, without the column.
			case err != nil:
				return fmt.Errorf("sweeping %v: updating an item: %w", sw.Attrs, err)
			default:
				total++
			}
		}
		s.onSwept(len(page.Items))
		if page.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
		cursor := control.Str(page.LastEvaluatedKey, codec.AttrPK)
		if _, err := s.ctl.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.control), Key: s.key(sw.Pos),
			UpdateExpression: aws.String("SET #c = :c"), ExpressionAttributeNames: map[string]string{"#c": "cursor"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":c": control.S(cursor)}}); err != nil {
			return fmt.Errorf("sweeping %v: saving the cursor: %w", sw.Attrs, err)
		}
	}
	if _, err := s.ctl.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.control), Key: s.key(sw.Pos)}); err != nil {
		return fmt.Errorf("sweeping %v: closing the sweep: %w", sw.Attrs, err)
	}
	s.log.Info("dropped columns swept from older items", "attributes", sw.Attrs, "ddl_position", sw.Pos, "items", total)
	return nil
}

// Keep runs sw until it is done or ctx ends, retrying a failed pass (it
// resumes from the last saved cursor) after wait.
func (s *Sweeper) Keep(ctx context.Context, sw Sweep, sleep func(context.Context, int) error) {
	for attempt := 1; ; attempt++ {
		err := s.Run(ctx, sw)
		if err == nil || ctx.Err() != nil || errors.Is(err, ErrLeaseLost) {
			return
		}
		s.log.Warn("sweeping dropped columns failed; trying again", "attributes", sw.Attrs, "attempt", attempt, "err", err)
		if sleep(ctx, attempt) != nil {
			return
		}
		if pending, perr := s.Pending(ctx); perr == nil {
			for _, p := range pending {
				if p.Pos == sw.Pos {
					sw.Cursor = p.Cursor
				}
			}
		}
	}
}

func mergeNames(a, b map[string]string) map[string]string {
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
