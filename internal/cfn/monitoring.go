package cfn

import (
	"encoding/json"
	"fmt"

	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/cloudwatch"
)

// CDCLagNamespace and CDCLagMetric are where the cdc task's lag is
// published: the cdc's own gauge, scraped from its /metrics by the
// CloudWatch agent beside it (cdcMetrics), by Cluster and stage.
const (
	CDCLagNamespace = "Strangler"
	CDCLagMetric    = "strangler_cdc_lag_seconds"
)

func dim(name, value string) cloudwatch.Alarm_Dimension {
	return cloudwatch.Alarm_Dimension{Name: name, Value: value}
}

// alarm adds a 5-minute alarm on one metric.
func (b *builder) alarm(logical, desc, ns, metric, stat string, threshold float64, dims ...cloudwatch.Alarm_Dimension) {
	b.t.Resources[logical] = &cloudwatch.Alarm{
		AlarmName: new(b.s.Name + "-" + logical), AlarmDescription: new(desc),
		Namespace: new(ns), MetricName: new(metric), Statistic: new(stat), Dimensions: dims,
		Period: new(300), EvaluationPeriods: 1, Threshold: new(threshold),
		ComparisonOperator: "GreaterThanThreshold", TreatMissingData: new("notBreaching"),
	}
}

// ratio adds an alarm on errors/requests above max.
func (b *builder) ratio(logical, desc, ns, errs, total string, max float64, dims ...cloudwatch.Alarm_Dimension) {
	q := func(qid, metric string) cloudwatch.Alarm_MetricDataQuery {
		return cloudwatch.Alarm_MetricDataQuery{Id: qid, ReturnData: new(false), MetricStat: &cloudwatch.Alarm_MetricStat{
			Metric: &cloudwatch.Alarm_Metric{Namespace: new(ns), MetricName: new(metric), Dimensions: dims}, Period: 300, Stat: "Sum",
		}}
	}
	b.t.Resources[logical] = &cloudwatch.Alarm{
		AlarmName: new(b.s.Name + "-" + logical), AlarmDescription: new(desc),
		Metrics: []cloudwatch.Alarm_MetricDataQuery{q("errors", errs), q("total", total),
			{Id: "ratio", Expression: new("IF(total > 0, errors / total, 0)"), Label: new("5xx ratio"), ReturnData: new(true)}},
		EvaluationPeriods: 1, Threshold: new(max), ComparisonOperator: "GreaterThanThreshold", TreatMissingData: new("notBreaching"),
	}
}

// monitoring adds the alarms and the dashboard.
func (b *builder) monitoring() {
	b.alarm("CdcLagAlarm", "The cdc's checkpoint is more than 5 minutes behind MySQL", CDCLagNamespace, CDCLagMetric, "Maximum", 300,
		dim("Cluster", b.s.Name), dim("stage", "checkpointed"))
	for _, q := range b.queues {
		b.alarm(q+"DepthAlarm", "Dead letters are waiting in "+q+": read the reason, fix, redrive (docs/runbook.md)",
			"AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", 0, dim("QueueName", cloudformation.GetAtt(q, "QueueName")))
	}
	b.ratio("HttpApi5xxAlarm", "More than 5% of the order API's answers are 5xx", "AWS/ApiGateway", "5xx", "Count", 0.05,
		dim("ApiId", cloudformation.Ref(idHTTPAPI)))
	b.ratio("ProxyAlb5xxAlarm", "More than 5% of the proxy's answers are 5xx", "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "RequestCount", 0.05,
		dim("LoadBalancer", cloudformation.GetAtt(idALB, "LoadBalancerFullName")))
	for _, part := range []string{PartOrders, PartProcessor, PartOutbox} {
		fn := dim("FunctionName", cloudformation.Ref(funcID(part)))
		b.alarm(id(part, "errors", "alarm"), "The "+part+" function failed", "AWS/Lambda", "Errors", "Sum", 0, fn)
		b.alarm(id(part, "throttles", "alarm"), "The "+part+" function was throttled", "AWS/Lambda", "Throttles", "Sum", 0, fn)
	}
	for _, tbl := range []string{idOrdersTable, idServiceTable, idControlTable} {
		for _, m := range []string{"ReadThrottleEvents", "WriteThrottleEvents"} {
			b.alarm(tbl+m+"Alarm", "DynamoDB throttled "+tbl, "AWS/DynamoDB", m, "Sum", 0, dim("TableName", cloudformation.Ref(tbl)))
		}
	}
	b.dashboard()
}

// dashboard adds one dashboard with a widget per alarm's metric.
func (b *builder) dashboard() {
	type widget struct {
		title   string
		metrics [][]any
	}
	fns := [][]any{}
	for _, part := range []string{PartOrders, PartProcessor, PartOutbox} {
		fns = append(fns, []any{"AWS/Lambda", "Errors", "FunctionName", "${" + funcID(part) + "}"},
			[]any{"AWS/Lambda", "Throttles", "FunctionName", "${" + funcID(part) + "}"})
	}
	dlq := [][]any{}
	for _, q := range b.queues {
		dlq = append(dlq, []any{"AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "${" + q + ".QueueName}"})
	}
	ddb := [][]any{}
	for _, tbl := range []string{idOrdersTable, idServiceTable, idControlTable} {
		ddb = append(ddb, []any{"AWS/DynamoDB", "WriteThrottleEvents", "TableName", "${" + tbl + "}"},
			[]any{"AWS/DynamoDB", "ReadThrottleEvents", "TableName", "${" + tbl + "}"})
	}
	widgets := []widget{
		{"cdc lag (s)", [][]any{{CDCLagNamespace, CDCLagMetric, "Cluster", b.s.Name, "stage", "checkpointed"}}},
		{"order API", [][]any{{"AWS/ApiGateway", "Count", "ApiId", "${" + idHTTPAPI + "}"}, {"AWS/ApiGateway", "5xx", "ApiId", "${" + idHTTPAPI + "}"}}},
		{"proxy ALB", [][]any{{"AWS/ApplicationELB", "RequestCount", "LoadBalancer", "${" + idALB + ".LoadBalancerFullName}"},
			{"AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", "${" + idALB + ".LoadBalancerFullName}"}}},
		{"functions", fns}, {"dead letters", dlq}, {"DynamoDB throttles", ddb},
	}
	var body struct {
		Widgets []map[string]any `json:"widgets"`
	}
	for i, w := range widgets {
		body.Widgets = append(body.Widgets, map[string]any{
			"type": "metric", "x": (i % 2) * 12, "y": (i / 2) * 6, "width": 12, "height": 6,
			"properties": map[string]any{"title": w.title, "metrics": w.metrics, "region": "${AWS::Region}", "stat": "Sum", "period": 300},
		})
	}
	raw, err := json.Marshal(body)
	if err != nil {
		panic(fmt.Sprintf("cfn: the dashboard does not encode: %v", err)) // only plain values above
	}
	b.t.Resources["Dashboard"] = &cloudwatch.Dashboard{DashboardName: new(b.s.Name), DashboardBody: cloudformation.Sub(string(raw))}
}

// outputs adds what the runbook points the tool at.
func (b *builder) outputs() {
	out := func(name, desc string, v any) {
		b.t.Outputs[name] = cloudformation.Output{Value: v, Description: new(desc)}
	}
	out("ApiEndpoint", "The order API (the proxy's backends.new)", cloudformation.GetAtt(idHTTPAPI, "ApiEndpoint"))
	out("ProxyURL", "The proxy behind the ALB (clients' entry)", cloudformation.Sub("http://${"+idALB+".DNSName}"))
	out("OrdersTableName", "The orders table", cloudformation.Ref(idOrdersTable))
	out("ServiceTableName", "The service table (outbox, idempotency keys)", cloudformation.Ref(idServiceTable))
	out("ControlTableName", "The control table (checkpoints, leases, routing)", cloudformation.Ref(idControlTable))
	out("EventBusName", "The event bus", cloudformation.Ref(idBus))
	out("ClusterName", "The ECS cluster (run the backfill task here)", cloudformation.Ref(idCluster))
	out("BackfillTaskDefinition", "Run with `aws ecs run-task` for a backfill", cloudformation.Ref(id(PartBackfill, "task")))
	out("MySQLSecretArn", "Put the MySQL dsn here before starting the cdc", cloudformation.Ref(idMySQLSecret))
}
