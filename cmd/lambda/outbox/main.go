// Command outbox is the AWS Lambda function of the outbox publisher on the service table's DynamoDB Stream
// (orders/lambdafn). `make lambda` builds it as bootstrap for provided.al2023 on arm64.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/anycompany/strangler/orders/lambdafn"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := lambdafn.OutboxFromEnv(context.Background(), log)
	if err != nil {
		log.Error("outbox: not starting", "err", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
