// Package control names the control table: the one DynamoDB table that holds
// every piece of run state (backfill chunks and leases, cdc checkpoints and
// leases, routing state and its audit log), so any machine can resume any
// job. Items are keyed by a partition key pk and a sort key sk, both strings;
// each part owns a pk prefix:
//
//	backfill  pk "backfill#<job>"          sk "job" | "chunk#<n, zero-padded>"
//	cdc       pk "cdc#<source>"            sk "checkpoint" | "lease"
//	proxy     pk "proxy#<name>"            sk "route#<route>" | "audit#<time>#<seq>"
//
// Where one part reads what another wrote, the item's format is a contract
// kept here: the backfill job's start position, which the cdc starts from
// (LoadBackfillStart), and the lease layout (Lease).
package control

import (
	"fmt"
	"os"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/anycompany/strangler/internal/ddbtable"
)

// DefaultTable is the control table's default name.
const DefaultTable = "strangler_control"

// Key attribute names.
const (
	PK = "pk"
	SK = "sk"
)

// Spec is the control table's definition, on demand billing.
func Spec(name string) ddbtable.Spec {
	return ddbtable.Spec{Create: &dynamodb.CreateTableInput{
		TableName: aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(PK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(SK), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(PK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(SK), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
	}}
}

// S is a string attribute of a control item.
func S(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

// N is an integer attribute of a control item.
func N(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

// Str reads string attribute k of item ("" when absent or not a string).
func Str(item map[string]types.AttributeValue, k string) string {
	if v, ok := item[k].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// Int reads integer attribute k of item (0 when absent or not a number).
func Int(item map[string]types.AttributeValue, k string) int64 {
	if v, ok := item[k].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}

// Owner is a process's default name in a lease: host:pid.
func Owner() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", h, os.Getpid())
}
