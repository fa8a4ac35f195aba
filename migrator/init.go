package migrator

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/ddbtable"
)

// OrdersSpec is the orders table: key pk, the listing GSI, TTL on
// expires_at (tombstones), on-demand billing.
func OrdersSpec(table string, idx IndexConfig) ddbtable.Spec {
	return ddbtable.Spec{
		TTLAttribute: codec.AttrExpires,
		Create: &dynamodb.CreateTableInput{
			TableName: aws.String(table),
			AttributeDefinitions: []types.AttributeDefinition{
				{AttributeName: aws.String(codec.AttrPK), AttributeType: types.ScalarAttributeTypeS},
				{AttributeName: aws.String(idx.Partition), AttributeType: types.ScalarAttributeTypeS},
				{AttributeName: aws.String(idx.Sort), AttributeType: types.ScalarAttributeTypeS},
			},
			KeySchema: []types.KeySchemaElement{{AttributeName: aws.String(codec.AttrPK), KeyType: types.KeyTypeHash}},
			GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
				IndexName: aws.String(idx.Name),
				KeySchema: []types.KeySchemaElement{
					{AttributeName: aws.String(idx.Partition), KeyType: types.KeyTypeHash},
					{AttributeName: aws.String(idx.Sort), KeyType: types.KeyTypeRange},
				},
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
			}},
			BillingMode: types.BillingModePayPerRequest,
		},
	}
}

// Init creates the orders and control tables unless they exist, waits
// until they are active, and refuses existing tables with another key.
func Init(ctx context.Context, api ddbtable.API, cfg Config, log *slog.Logger) error {
	for _, t := range []struct {
		what string
		spec ddbtable.Spec
	}{
		{"orders", OrdersSpec(cfg.Table, cfg.Index)},
		{"control", control.Spec(cfg.ControlTable)},
	} {
		created, err := ddbtable.Ensure(ctx, api, t.spec)
		if err != nil {
			return fmt.Errorf("%s table: %w", t.what, err)
		}
		state := "exists"
		if created {
			state = "created"
		}
		log.Info("table ready", "table", aws.ToString(t.spec.Create.TableName), "role", t.what, "state", state)
	}
	return nil
}
