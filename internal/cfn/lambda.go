package cfn

import (
	"fmt"
	"strconv"

	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/apigatewayv2"
	"github.com/awslabs/goformation/v7/cloudformation/lambda"
	"github.com/awslabs/goformation/v7/cloudformation/logs"
)

func funcID(part string) string { return id(part, "function") }

// logGroup adds a log group with the spec's retention.
func (b *builder) logGroup(logical, name string) string {
	b.t.Resources[logical] = &logs.LogGroup{LogGroupName: new(name), RetentionInDays: new(b.s.LogRetentionDays)}
	return logical
}

func (b *builder) secretRef(secret, key string) string {
	return cloudformation.Sub(fmt.Sprintf("{{resolve:secretsmanager:${%s}:SecretString:%s}}", secret, key))
}

// ordersEnv is the order service's configuration in the functions'
// environment (STRANGLER_ORDERS_*; lambdafn.LoadOrders reads it).
func (b *builder) ordersEnv() map[string]string {
	return map[string]string{
		"STRANGLER_DEV":                     "0",
		"STRANGLER_ORDERS_TABLE":            cloudformation.Ref(idOrdersTable),
		"STRANGLER_ORDERS_INDEX":            b.s.OrdersIndex,
		"STRANGLER_ORDERS_SERVICE_TABLE":    cloudformation.Ref(idServiceTable),
		"STRANGLER_ORDERS_OUTBOX_SHARDS":    strconv.Itoa(b.s.OutboxShards),
		"STRANGLER_ORDERS_PROCESSOR_SOURCE": b.s.ServiceSource,
		"STRANGLER_ORDERS_API_KEYS":         b.secretRef(idOrdersSecret, "api_keys"),
		"STRANGLER_ORDERS_ADMIN_TOKEN":      b.secretRef(idOrdersSecret, "admin_token"),
	}
}

// function adds part's function (provided.al2023 on arm64, the zip of
// `make lambda`), its log group and its role; env gets the tracing
// variables.
func (b *builder) function(part, desc string, env map[string]string, platform ...map[string]any) *lambda.Function {
	lg := b.logGroup(id(part, "function", "logs"), "/aws/lambda/"+b.s.Name+"-"+part)
	role := b.role(part, "lambda.amazonaws.com", append([]map[string]any{logsStatement(lg)}, platform...)...)
	for kv := traceEnv(); len(kv) >= 2; kv = kv[2:] {
		env[kv[0]] = kv[1]
	}
	f := &lambda.Function{
		FunctionName:  new(b.s.Name + "-" + part),
		Description:   new(desc),
		Runtime:       new("provided.al2023"),
		Architectures: []string{"arm64"},
		Handler:       new("bootstrap"),
		Code:          &lambda.Function_Code{S3Bucket: new(cloudformation.Ref("ArtifactBucket")), S3Key: new(cloudformation.Sub("${ArtifactPrefix}" + part + ".zip"))},
		Role:          cloudformation.GetAtt(role, "Arn"),
		MemorySize:    new(256),
		Timeout:       new(30),
		Environment:   &lambda.Function_Environment{Variables: env},
		LoggingConfig: &lambda.Function_LoggingConfig{LogGroup: new(cloudformation.Ref(lg)), LogFormat: new("Text")},
	}
	b.t.Resources[funcID(part)] = f
	return f
}

// functions adds the order API, the processor and the outbox publisher.
func (b *builder) functions() {
	b.function(PartOrders, "The order API behind the HTTP API (orders/lambdafn.Orders)", b.ordersEnv())

	pdlq := b.queue("ProcessorFunctionDLQ")
	p := b.function(PartProcessor, "The order processor, target of the OrderCreated rule (orders/lambdafn.Processor)", b.ordersEnv(),
		statement("DeadLetters", []string{"sqs:SendMessage"}, cloudformation.GetAtt(pdlq, "Arn")))
	p.DeadLetterConfig = &lambda.Function_DeadLetterConfig{TargetArn: new(cloudformation.GetAtt(pdlq, "Arn"))}
	b.t.Resources["ProcessorInvokeConfig"] = &lambda.EventInvokeConfig{
		FunctionName: cloudformation.Ref(funcID(PartProcessor)), Qualifier: "$LATEST",
		MaximumRetryAttempts: new(2), MaximumEventAgeInSeconds: new(6 * 3600),
	}

	odlq := b.queue("OutboxFunctionDLQ")
	stream := cloudformation.GetAtt(idServiceTable, "StreamArn")
	b.function(PartOutbox, "The outbox publisher on the service table's stream (orders/lambdafn.Outbox)", map[string]string{
		"STRANGLER_DEV":                 "0",
		"STRANGLER_RELAY_TABLE":         cloudformation.Ref(idServiceTable),
		"STRANGLER_RELAY_CONTROL_TABLE": cloudformation.Ref(idControlTable),
		"STRANGLER_RELAY_SHARDS":        strconv.Itoa(b.s.OutboxShards),
		"STRANGLER_RELAY_EVENTS_SOURCE": b.s.ServiceSource,
		"STRANGLER_RELAY_EVENTS_BUS":    cloudformation.Ref(idBus),
	},
		statement("ReadStream", []string{"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"}, stream),
		statement("DeadLetters", []string{"sqs:SendMessage"}, cloudformation.GetAtt(odlq, "Arn")))
	b.t.Resources["OutboxStreamMapping"] = &lambda.EventSourceMapping{
		FunctionName: cloudformation.Ref(funcID(PartOutbox)), EventSourceArn: new(stream),
		StartingPosition: new("TRIM_HORIZON"), BatchSize: new(100),
		FunctionResponseTypes:      []string{"ReportBatchItemFailures"},
		BisectBatchOnFunctionError: new(true), MaximumRetryAttempts: new(10),
		DestinationConfig: &lambda.EventSourceMapping_DestinationConfig{OnFailure: &lambda.EventSourceMapping_OnFailure{Destination: new(cloudformation.GetAtt(odlq, "Arn"))}},
		// Only new outbox records wake the function (not idempotency keys,
		// dead letters or the relay's own deletes).
		FilterCriteria: &lambda.EventSourceMapping_FilterCriteria{Filters: []lambda.EventSourceMapping_Filter{{
			Pattern: new(`{"eventName":["INSERT"],"dynamodb":{"Keys":{"pk":{"S":[{"prefix":"outbox#"}]}}}}`),
		}}},
	}
}

// httpAPI adds the HTTP API: one $default route to the orders function
// (payload 2.0), throttled, with access logs.
func (b *builder) httpAPI() {
	lg := b.logGroup("HttpApiLogs", "/strangler/"+b.s.Name+"/http-api")
	b.t.Resources[idHTTPAPI] = &apigatewayv2.Api{Name: new(b.s.Name + "-orders"), ProtocolType: new("HTTP"), Description: new("The new order service's API")}
	b.t.Resources["HttpApiIntegration"] = &apigatewayv2.Integration{
		ApiId: cloudformation.Ref(idHTTPAPI), IntegrationType: "AWS_PROXY",
		IntegrationUri: new(cloudformation.GetAtt(funcID(PartOrders), "Arn")), PayloadFormatVersion: new("2.0"), TimeoutInMillis: new(29000),
	}
	b.t.Resources["HttpApiRoute"] = &apigatewayv2.Route{
		ApiId: cloudformation.Ref(idHTTPAPI), RouteKey: "$default",
		Target: new(cloudformation.Join("/", []string{"integrations", cloudformation.Ref("HttpApiIntegration")})),
	}
	b.t.Resources["HttpApiStage"] = &apigatewayv2.Stage{
		ApiId: cloudformation.Ref(idHTTPAPI), StageName: "$default", AutoDeploy: new(true),
		DefaultRouteSettings: &apigatewayv2.Stage_RouteSettings{ThrottlingBurstLimit: new(b.s.ThrottleBurst), ThrottlingRateLimit: new(b.s.ThrottleRate), DetailedMetricsEnabled: new(true)},
		AccessLogSettings: &apigatewayv2.Stage_AccessLogSettings{
			DestinationArn: new(cloudformation.GetAtt(lg, "Arn")),
			Format:         new(`{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","method":"$context.httpMethod","path":"$context.path","status":"$context.status","latency":"$context.responseLatency","error":"$context.integrationErrorMessage"}`),
		},
	}
	b.t.Resources["HttpApiPermission"] = &lambda.Permission{
		Action: "lambda:InvokeFunction", FunctionName: cloudformation.Ref(funcID(PartOrders)), Principal: "apigateway.amazonaws.com",
		SourceArn: new(cloudformation.Sub("arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${" + idHTTPAPI + "}/*")),
	}
}
