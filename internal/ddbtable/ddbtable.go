// Package ddbtable creates DynamoDB tables idempotently: it creates a table
// that is missing, waits until it is active, and refuses an existing table
// whose key schema differs from the one wanted.
package ddbtable

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// API is the part of the DynamoDB client Ensure needs.
type API interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

// KeySchemaError says an existing table has another key than wanted.
type KeySchemaError struct {
	Table      string
	Have, Want string
}

func (e *KeySchemaError) Error() string {
	return fmt.Sprintf("table %s exists with key %s, but strangler needs %s: point the config at another table name or drop this one", e.Table, e.Have, e.Want)
}

// Spec is a table to ensure.
type Spec struct {
	Create *dynamodb.CreateTableInput
	// TTLAttribute, when set, is enabled as the table's TTL attribute.
	TTLAttribute string
}

// Ensure creates spec's table unless it exists, waits until it is active,
// and checks the key schema. It reports whether it created the table.
func Ensure(ctx context.Context, api API, spec Spec) (created bool, err error) {
	name := aws.ToString(spec.Create.TableName)
	out, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: spec.Create.TableName})
	var nf *types.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		if _, err := api.CreateTable(ctx, spec.Create); err != nil {
			var inUse *types.ResourceInUseException
			if !errors.As(err, &inUse) {
				return false, fmt.Errorf("creating table %s: %w", name, err)
			}
		} else {
			created = true
		}
		if err := dynamodb.NewTableExistsWaiter(api, func(o *dynamodb.TableExistsWaiterOptions) {
			o.MinDelay, o.MaxDelay = 200*time.Millisecond, 5*time.Second
		}).Wait(ctx,
			&dynamodb.DescribeTableInput{TableName: spec.Create.TableName}, 2*time.Minute); err != nil {
			return created, fmt.Errorf("waiting for table %s to become active: %w", name, err)
		}
		out, err = api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: spec.Create.TableName})
		if err != nil {
			return created, fmt.Errorf("describing table %s: %w", name, err)
		}
	case err != nil:
		return false, fmt.Errorf("describing table %s: %w", name, err)
	}
	have, want := keyString(out.Table.KeySchema, out.Table.AttributeDefinitions), keyString(spec.Create.KeySchema, spec.Create.AttributeDefinitions)
	if have != want {
		return created, &KeySchemaError{Table: name, Have: have, Want: want}
	}
	if spec.TTLAttribute != "" && created {
		if _, err := api.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName:               spec.Create.TableName,
			TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(spec.TTLAttribute), Enabled: aws.Bool(true)},
		}); err != nil {
			return created, fmt.Errorf("enabling TTL on %s.%s: %w", name, spec.TTLAttribute, err)
		}
	}
	return created, nil
}

func keyString(ks []types.KeySchemaElement, defs []types.AttributeDefinition) string {
	typ := map[string]types.ScalarAttributeType{}
	for _, d := range defs {
		typ[aws.ToString(d.AttributeName)] = d.AttributeType
	}
	var parts []string
	for _, k := range ks {
		n := aws.ToString(k.AttributeName)
		parts = append(parts, fmt.Sprintf("%s(%s,%s)", n, typ[n], k.KeyType))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}
