package doctor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/retry"
)

// TablesAPI is the part of the DynamoDB client the doctor calls.
type TablesAPI interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	DescribeTimeToLive(ctx context.Context, in *dynamodb.DescribeTimeToLiveInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error)
}

var _ TablesAPI = (*dynamodb.Client)(nil)

// onDemandWarm is the write units a second a new on-demand table (and each
// of its GSIs) takes at once, as AWS documents it, when DescribeTable
// reports no warm throughput (DynamoDB Local does not).
const onDemandWarm = 4000

// capacity is what a table or index takes at once.
type capacity struct {
	wcu      float64 // write units a second
	onDemand bool
	reported bool // from DescribeTable's WarmThroughput or provisioning, not assumed
}

// tablesFacts is what the DynamoDB checks learned, for the estimates.
type tablesFacts struct {
	ok    bool // the orders table was described
	table capacity
	gsi   *capacity // nil without the listing index
}

// tablesChecks checks the orders table (key, listing GSI, TTL) and the
// control table.
func (d *Doctor) tablesChecks(ctx context.Context) (tablesFacts, []Check, error) {
	var f tablesFacts
	m := d.Migrator
	out, c, err := d.describe(ctx, m.Table, "orders", codec.AttrPK+"(S,HASH)")
	if err != nil {
		return f, nil, err
	}
	cs := []Check{c}
	if out != nil {
		f.ok = true
		f.table = tableCapacity(out)
		gsi, gc := d.gsiCheck(out)
		f.gsi = gsi
		ttl, err := d.ttlCheck(ctx)
		if err != nil {
			return f, cs, err
		}
		cs = append(cs, gc, ttl)
	}
	_, c, err = d.describe(ctx, m.ControlTable, "control", control.PK+"(S,HASH) "+control.SK+"(S,RANGE)")
	if err != nil {
		return f, cs, err
	}
	return f, append(cs, c), nil
}

// describe describes table and checks its key; out is nil when the table
// is unusable (the check says why).
func (d *Doctor) describe(ctx context.Context, table, role, key string) (*types.TableDescription, Check, error) {
	what := "dynamodb table " + table + " (" + role + ")"
	out, err := d.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, retry.NoSDKRetry)
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		return nil, Check{Fail, what, "it does not exist", "strangler migrate init (creates the orders and control tables)"}, nil
	}
	if err != nil {
		return nil, Check{}, fmt.Errorf("describing table %s: %w", table, err)
	}
	t := out.Table
	if have := keyText(t.KeySchema, t.AttributeDefinitions); have != key {
		return nil, Check{Fail, what, "its key is " + have + ", strangler needs " + key,
			"point " + roleKey(role) + " at another table name (strangler migrate init creates it) or drop this one"}, nil
	}
	if t.TableStatus != types.TableStatusActive {
		return t, Check{Warn, what, "it is " + string(t.TableStatus) + ", not ACTIVE: writes wait or fail until it is", "wait until it is ACTIVE (aws dynamodb wait table-exists --table-name " + table + ")"}, nil
	}
	return t, Check{OK, what, "it exists, ACTIVE, key " + key, ""}, nil
}

func roleKey(role string) string {
	if role == "control" {
		return "control_table"
	}
	return "table"
}

// gsiCheck checks the listing index the new service reads a customer's
// orders through.
func (d *Doctor) gsiCheck(t *types.TableDescription) (*capacity, Check) {
	idx := d.Migrator.Index
	what := "dynamodb index " + idx.Name
	want := idx.Partition + "(S,HASH) " + idx.Sort + "(S,RANGE)"
	i := slices.IndexFunc(t.GlobalSecondaryIndexes, func(g types.GlobalSecondaryIndexDescription) bool { return aws.ToString(g.IndexName) == idx.Name })
	if i < 0 {
		return nil, Check{Fail, what, "the orders table has no such global secondary index: the new service lists a customer's orders through it",
			fmt.Sprintf("aws dynamodb update-table --table-name %s --attribute-definitions AttributeName=%s,AttributeType=S AttributeName=%s,AttributeType=S "+
				`--global-secondary-index-updates '[{"Create":{"IndexName":"%s","KeySchema":[{"AttributeName":"%s","KeyType":"HASH"},{"AttributeName":"%s","KeyType":"RANGE"}],"Projection":{"ProjectionType":"ALL"}}}]'`,
				aws.ToString(t.TableName), idx.Partition, idx.Sort, idx.Name, idx.Partition, idx.Sort)}
	}
	g := t.GlobalSecondaryIndexes[i]
	c := gsiCapacity(g, t)
	if have := keyText(g.KeySchema, t.AttributeDefinitions); have != want {
		return &c, Check{Fail, what, "its key is " + have + ", the new service needs " + want, "set index in configs/migrator.yaml to the index's key, or recreate the index"}
	}
	if g.IndexStatus != types.IndexStatusActive {
		return &c, Check{Warn, what, "it is " + string(g.IndexStatus) + ", not ACTIVE: listing reads fail until it is", "wait until it is ACTIVE"}
	}
	if g.Projection == nil || g.Projection.ProjectionType != types.ProjectionTypeAll {
		return &c, Check{Warn, what, "it does not project ALL attributes: a listing then needs a read of each order", "recreate the index with projection ALL"}
	}
	return &c, Check{OK, what, "key " + want + ", projection ALL, ACTIVE", ""}
}

// ttlCheck checks tombstones expire: TTL on expires_at.
func (d *Doctor) ttlCheck(ctx context.Context) (Check, error) {
	table := d.Migrator.Table
	what := "dynamodb ttl " + codec.AttrExpires
	out, err := d.DynamoDB.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)}, retry.NoSDKRetry)
	if err != nil {
		return Check{}, fmt.Errorf("describing the TTL of %s: %w", table, err)
	}
	fix := "aws dynamodb update-time-to-live --table-name " + table + " --time-to-live-specification Enabled=true,AttributeName=" + codec.AttrExpires
	why := "tombstones (deleted orders) carry " + codec.AttrExpires + " and must expire"
	s := out.TimeToLiveDescription
	switch {
	case s == nil || s.TimeToLiveStatus == types.TimeToLiveStatusDisabled || s.TimeToLiveStatus == types.TimeToLiveStatusDisabling:
		return Check{Fail, what, "TTL is off on " + table + ": " + why + ", or they pile up forever", fix}, nil
	case aws.ToString(s.AttributeName) != codec.AttrExpires:
		return Check{Fail, what, "TTL of " + table + " is on " + aws.ToString(s.AttributeName) + ": " + why, "disable it, then " + fix}, nil
	case s.TimeToLiveStatus == types.TimeToLiveStatusEnabling:
		return Check{OK, what, "TTL is being enabled on " + table + ": " + why, ""}, nil
	}
	return Check{OK, what, "TTL is on: " + why, ""}, nil
}

// tableCapacity is what the table takes at once: its provisioned write
// units, or its (reported or documented) on-demand warm throughput.
func tableCapacity(t *types.TableDescription) capacity {
	if isProvisioned(t.BillingModeSummary, t.ProvisionedThroughput) {
		return capacity{wcu: float64(aws.ToInt64(t.ProvisionedThroughput.WriteCapacityUnits)), reported: true}
	}
	if w := t.WarmThroughput; w != nil && aws.ToInt64(w.WriteUnitsPerSecond) > 0 {
		return capacity{wcu: float64(aws.ToInt64(w.WriteUnitsPerSecond)), onDemand: true, reported: true}
	}
	return capacity{wcu: onDemandWarm, onDemand: true}
}

func gsiCapacity(g types.GlobalSecondaryIndexDescription, t *types.TableDescription) capacity {
	if isProvisioned(t.BillingModeSummary, nil) && g.ProvisionedThroughput != nil {
		return capacity{wcu: float64(aws.ToInt64(g.ProvisionedThroughput.WriteCapacityUnits)), reported: true}
	}
	if w := g.WarmThroughput; w != nil && aws.ToInt64(w.WriteUnitsPerSecond) > 0 {
		return capacity{wcu: float64(aws.ToInt64(w.WriteUnitsPerSecond)), onDemand: true, reported: true}
	}
	return capacity{wcu: onDemandWarm, onDemand: true}
}

func isProvisioned(b *types.BillingModeSummary, p *types.ProvisionedThroughputDescription) bool {
	if b != nil {
		return b.BillingMode == types.BillingModeProvisioned
	}
	return p != nil && aws.ToInt64(p.WriteCapacityUnits) > 0
}

// keyText renders a key schema as "pk(S,HASH) sk(S,RANGE)", hash first.
func keyText(ks []types.KeySchemaElement, defs []types.AttributeDefinition) string {
	typ := map[string]types.ScalarAttributeType{}
	for _, d := range defs {
		typ[aws.ToString(d.AttributeName)] = d.AttributeType
	}
	parts := make([]string, 0, len(ks))
	for _, k := range ks {
		n := aws.ToString(k.AttributeName)
		parts = append(parts, fmt.Sprintf("%s(%s,%s)", n, typ[n], k.KeyType))
	}
	slices.SortFunc(parts, func(a, b string) int { return strings.Compare(rank(a), rank(b)) })
	return strings.Join(parts, " ")
}

func rank(part string) string {
	if strings.HasSuffix(part, ",HASH)") {
		return "0"
	}
	return "1" + part
}
