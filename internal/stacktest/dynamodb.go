package stacktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/anycompany/strangler/internal/awsconf"
)

// DefaultDynamoDBURL is the local stack's DynamoDB Local.
const DefaultDynamoDBURL = "http://127.0.0.1:8000"

// DynamoDBEndpoint returns the endpoint from STRANGLER_TEST_DYNAMODB_ENDPOINT,
// else the local stack's.
func DynamoDBEndpoint() awsconf.Endpoint {
	u := os.Getenv("STRANGLER_TEST_DYNAMODB_ENDPOINT")
	if u == "" {
		u = DefaultDynamoDBURL
	}
	return awsconf.Local(u)
}

// DynamoDB returns a client of the local DynamoDB, failing the test loudly
// when it does not answer.
func DynamoDB(t testing.TB) *dynamodb.Client {
	t.Helper()
	ep := DynamoDBEndpoint()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := ep.DynamoDB(ctx)
	if err != nil {
		t.Fatalf("DynamoDB client: %v", err)
	}
	if _, err := c.ListTables(ctx, &dynamodb.ListTablesInput{Limit: aws.Int32(1)}); err != nil {
		t.Fatalf("DynamoDB at %s is unreachable: %v\nThe integration tests need the local stack: run `make stack-up` (or scripts/stack.sh up).", ep.URL, err)
	}
	return c
}

// TableName returns a table name unique to this test, prefixed by prefix,
// and deletes any table of that name when the test ends.
func TableName(t testing.TB, c *dynamodb.Client, prefix string) string {
	t.Helper()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(name) > 60 {
		name = name[:60]
	}
	name = prefix + "_" + name + "_" + hex.EncodeToString(suffix)
	t.Cleanup(func() {
		_, _ = c.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return name
}
