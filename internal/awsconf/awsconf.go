// Package awsconf builds AWS SDK clients the same way for every part: the
// standard credential chain in production, an endpoint override for the
// local stack (DynamoDB Local, the devstack bus), and an HTTP transport sized
// for many calls in flight.
package awsconf

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/anycompany/strangler/internal/awsiam"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/retry"
)

// Endpoint says how to reach one AWS service. The zero value means the real
// service in the default region with the standard credential chain.
type Endpoint struct {
	// Region is the AWS region. Optional: defaults to us-east-1.
	Region string `mapstructure:"region"`
	// URL overrides the service endpoint (DynamoDB Local, the devstack bus).
	// Optional: empty means the real AWS endpoint. When set and no AWS
	// credentials are in the environment, dummy static credentials are used.
	URL string `mapstructure:"url"`
	// MaxConns is the idle connections kept per host; the SDK's default of 10
	// makes a busy writer open thousands of TCP connections. Optional: defaults to 128.
	MaxConns int `mapstructure:"max_conns"`
}

// Local returns the endpoint of the local stack at url.
func Local(url string) Endpoint { return Endpoint{Region: "us-east-1", URL: url, MaxConns: 128} }

// Check records unusable fields in ck under prefix.
func (e Endpoint) Check(ck *config.Checker, prefix string) {
	ck.Check(e.Region != "", prefix+".region", e.Region, "an AWS region like us-east-1")
	if e.URL != "" {
		u, err := url.Parse(e.URL)
		ck.Check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "", prefix+".url", e.URL, "an http(s) URL, or empty for AWS")
	}
	ck.Check(e.MaxConns > 0, prefix+".max_conns", e.MaxConns, "a positive number")
}

// Load resolves the SDK configuration of e.
func (e Endpoint) Load(ctx context.Context) (aws.Config, error) {
	maxConns := e.MaxConns
	if maxConns <= 0 {
		maxConns = 128
	}
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = maxConns * 2
		t.MaxIdleConnsPerHost = maxConns
		t.IdleConnTimeout = 90 * time.Second
	})
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(e.Region),
		awsconfig.WithHTTPClient(hc),
		// Set on purpose: loops that retry for themselves call with
		// retry.NoSDKRetry; the rest rely on this (docs/retries.md).
		awsconfig.WithRetryer(func() aws.Retryer { return retry.SDK().SDKRetryer() }),
	}
	if e.URL != "" && os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if rec := awsiam.FromEnv(); rec != nil {
		// docs/aws.md: the IAM policies come from the calls the suites make.
		cfg.APIOptions = append(cfg.APIOptions, rec.Middleware)
	}
	return cfg, nil
}

// DynamoDB returns a DynamoDB client for e; opts run last.
func (e Endpoint) DynamoDB(ctx context.Context, opts ...func(*dynamodb.Options)) (*dynamodb.Client, error) {
	cfg, err := e.Load(ctx)
	if err != nil {
		return nil, err
	}
	base := func(o *dynamodb.Options) {
		if e.URL != "" {
			o.BaseEndpoint = aws.String(e.URL)
			// DynamoDB Local's error responses fail the SDK's CRC check.
			o.DisableValidateResponseChecksum = true
		}
	}
	return dynamodb.NewFromConfig(cfg, append([]func(*dynamodb.Options){base}, opts...)...), nil
}

// EventBridge returns an EventBridge client for e; opts run last.
func (e Endpoint) EventBridge(ctx context.Context, opts ...func(*eventbridge.Options)) (*eventbridge.Client, error) {
	cfg, err := e.Load(ctx)
	if err != nil {
		return nil, err
	}
	base := func(o *eventbridge.Options) {
		if e.URL != "" {
			o.BaseEndpoint = aws.String(e.URL)
		}
	}
	return eventbridge.NewFromConfig(cfg, append([]func(*eventbridge.Options){base}, opts...)...), nil
}
