// Package cfn builds the CloudFormation template of the AWS side (typed
// with goformation) from a Spec, which `strangler aws template` fills from
// the parts' configurations, and checks a template the way the project
// wants it: every reference resolves, every function has its log group,
// every queue is a dead-letter queue with a redrive policy, nothing is
// public but the HTTP API and the ALB, and no IAM statement grants `*`.
package cfn

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/awslabs/goformation/v7/cloudformation"
)

// Parts with a role of their own: the Lambda functions and the Fargate tasks.
const (
	PartOrders    = "orders"
	PartProcessor = "processor"
	PartOutbox    = "outbox"
	PartCDC       = "cdc"
	PartProxy     = "proxy"
	PartBackfill  = "backfill"
)

// Parts lists every part with a role, functions first.
var Parts = []string{PartOrders, PartProcessor, PartOutbox, PartCDC, PartProxy, PartBackfill}

// Logical resources a Grant may name.
const (
	ResOrdersTable  = "orders-table"
	ResOrdersIndex  = "orders-index"
	ResServiceTable = "service-table"
	ResControlTable = "control-table"
	ResBus          = "bus"
)

// Grant allows a part one action on one logical resource (Res*).
type Grant struct {
	Part     string `json:"part"`
	Action   string `json:"action"`
	Resource string `json:"resource"`
}

// Spec is what the template is made from. The zero value is not valid;
// every field is required unless it says otherwise. It may be copied.
type Spec struct {
	// Name prefixes the physical names (functions, log groups, the bus).
	Name string
	// OrdersTable, OrdersIndex (partition IndexPartition, sort IndexSort)
	// and TTLAttribute describe the orders table (migrate init's).
	OrdersTable, OrdersIndex, IndexPartition, IndexSort, TTLAttribute string
	// ServiceTable holds the outbox (its stream feeds the outbox function).
	ServiceTable string
	// ControlTable holds checkpoints, leases, routing state.
	ControlTable string
	// CDCSource and ServiceSource are the events' sources.
	CDCSource, ServiceSource string
	// OutboxShards is the outbox's shard count (orders and relay agree).
	OutboxShards int
	// Rules are the bus's rules (configs/eventbus.yaml's).
	Rules []Rule
	// ProxyReplicas is the proxy tasks behind the ALB.
	ProxyReplicas int
	// ProxyPort and ProxyAdminPort are the proxy's listeners (the ALB
	// forwards to the first and checks /healthz on the second).
	ProxyPort, ProxyAdminPort int
	// LogRetentionDays is every log group's retention.
	LogRetentionDays int
	// ThrottleBurst and ThrottleRate throttle the HTTP API's default route.
	ThrottleBurst int
	ThrottleRate  float64
	// Grants are the parts' permissions (internal/awsiam's observed.json).
	Grants []Grant
}

// Rule is one EventBridge rule and its targets.
type Rule struct {
	Name    string
	Pattern string
	Targets []Target
}

// Target is one target of a rule: a function of this template (Function
// names its part) or an HTTP endpoint reached through an API destination.
type Target struct {
	Name string
	// Function is the part of the Lambda target; empty for an API destination.
	Function string
	// APIKeyHeader or Username says how the API destination's connection
	// authenticates (an API key header or basic auth). One is required for
	// an API destination.
	APIKeyHeader, Username string
	// MaxAttempts is the delivery attempts before the dead-letter queue.
	MaxAttempts int
}

var nameRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,30}$`)

// Validate reports the first unusable field.
func (s Spec) Validate() error {
	for k, v := range map[string]string{"Name": s.Name, "OrdersTable": s.OrdersTable, "OrdersIndex": s.OrdersIndex,
		"IndexPartition": s.IndexPartition, "IndexSort": s.IndexSort, "TTLAttribute": s.TTLAttribute,
		"ServiceTable": s.ServiceTable, "ControlTable": s.ControlTable, "CDCSource": s.CDCSource, "ServiceSource": s.ServiceSource} {
		if v == "" {
			return fmt.Errorf("cfn: %s is required", k)
		}
	}
	switch {
	case !nameRe.MatchString(s.Name):
		return fmt.Errorf("cfn: name %q: want a letter then up to 30 letters, digits or -", s.Name)
	case s.OutboxShards < 1, s.ProxyReplicas < 1, s.ProxyPort < 1, s.ProxyAdminPort < 1, s.ThrottleBurst < 1, s.ThrottleRate <= 0:
		return fmt.Errorf("cfn: outbox shards, proxy replicas and ports, and API throttling must be positive")
	case !slices.Contains([]int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}, s.LogRetentionDays):
		return fmt.Errorf("cfn: log retention %d days is not one CloudWatch Logs offers (1, 3, 5, 7, 14, 30, 60, 90, ...)", s.LogRetentionDays)
	}
	for _, r := range s.Rules {
		for _, t := range r.Targets {
			if t.Function == "" && (t.APIKeyHeader == "") == (t.Username == "") {
				return fmt.Errorf("cfn: rule %s target %s: an API destination needs an API key header or a user name (its connection), one of them", r.Name, t.Name)
			}
			if t.Function != "" && t.Function != PartProcessor {
				return fmt.Errorf("cfn: rule %s target %s: function %q is not a target this template has (processor)", r.Name, t.Name, t.Function)
			}
		}
	}
	return nil
}

// Counts returns the template's resources by type.
func Counts(t *cloudformation.Template) map[string]int {
	out := map[string]int{}
	for _, r := range t.Resources {
		out[r.AWSCloudFormationType()]++
	}
	return out
}
