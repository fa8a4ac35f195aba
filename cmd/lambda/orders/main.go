// Command orders is the AWS Lambda function of the order API behind API Gateway (HTTP API, payload v2)
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
	h, err := lambdafn.OrdersFromEnv(context.Background(), log)
	if err != nil {
		log.Error("orders: not starting", "err", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
