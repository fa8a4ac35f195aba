package cfn

import (
	"fmt"
	"strings"
)

// checkQueues: every queue is a dead-letter queue of something in the
// template (a rule target, a function, a stream mapping or another queue's
// redrive policy) and has a redrive policy of its own (RedrivePolicy, or a
// RedriveAllowPolicy saying which queues may park messages in it).
func (t tmpl) checkQueues() []error {
	dead := map[string]bool{}
	for _, r := range t.Resources {
		visit(r.Properties, func(x any) {
			m, ok := x.(map[string]any)
			if !ok {
				return
			}
			for _, k := range []string{"DeadLetterConfig", "OnFailure", "RedrivePolicy"} {
				visit(m[k], func(y any) {
					if q := refTo(y); q != "" {
						dead[q] = true
					}
				})
			}
		})
	}
	var errs []error
	for name, r := range t.Resources {
		if r.Type != "AWS::SQS::Queue" {
			continue
		}
		if r.Properties["RedrivePolicy"] == nil && r.Properties["RedriveAllowPolicy"] == nil {
			errs = append(errs, fmt.Errorf("queue %s has no redrive policy (RedrivePolicy or RedriveAllowPolicy)", name))
		}
		if !dead[name] {
			errs = append(errs, fmt.Errorf("queue %s is nobody's dead-letter queue: failures that should land in it would be lost", name))
		}
	}
	return errs
}

// Public resource types: what may be reached from the internet.
const (
	typeHTTPAPI = "AWS::ApiGatewayV2::Api"
	typeLB      = "AWS::ElasticLoadBalancingV2::LoadBalancer"
)

// checkPublic: nothing is open to the internet but the HTTP API and the
// internet-facing ALB: no other load balancer faces the internet, only the
// ALB's security group admits 0.0.0.0/0, no task gets a public IP, no
// function has a URL, every function permission names its source, and no
// resource policy allows everyone.
func (t tmpl) checkPublic() []error {
	var errs []error
	albGroups := map[string]bool{}
	apis, albs := 0, 0
	for name, r := range t.Resources {
		switch r.Type {
		case typeHTTPAPI:
			apis++
		case typeLB:
			if r.Properties["Scheme"] == "internet-facing" {
				albs++
				for _, g := range asList(r.Properties["SecurityGroups"]) {
					albGroups[refTo(g)] = true
				}
			}
		case "AWS::Lambda::Url":
			errs = append(errs, fmt.Errorf("function URL %s: functions are reached through the HTTP API only", name))
		case "AWS::Lambda::Permission":
			if r.Properties["SourceArn"] == nil {
				errs = append(errs, fmt.Errorf("permission %s lets any %v resource invoke the function: set SourceArn", name, r.Properties["Principal"]))
			}
		case "AWS::ECS::Service":
			if dig(r.Properties, "NetworkConfiguration", "AwsvpcConfiguration", "AssignPublicIp") != "DISABLED" {
				errs = append(errs, fmt.Errorf("service %s's tasks may get a public IP (AssignPublicIp must be DISABLED)", name))
			}
		}
		visit(r.Properties, func(x any) {
			if m, ok := x.(map[string]any); ok && (m["Principal"] == "*" || dig(m, "Principal", "AWS") == "*") {
				errs = append(errs, fmt.Errorf("resource %s has a policy allowing everyone (Principal *)", name))
			}
		})
	}
	if apis > 1 || albs > 1 {
		errs = append(errs, fmt.Errorf("%d HTTP APIs and %d internet-facing load balancers: only the order API and the proxy's ALB may be public", apis, albs))
	}
	for name, r := range t.Resources {
		if r.Type != "AWS::EC2::SecurityGroup" || albGroups[name] {
			continue
		}
		for _, in := range asList(r.Properties["SecurityGroupIngress"]) {
			if dig(in, "CidrIp") == "0.0.0.0/0" || dig(in, "CidrIpv6") == "::/0" {
				errs = append(errs, fmt.Errorf("security group %s admits the internet; only the ALB's may", name))
			}
		}
	}
	return errs
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// checkIAM: no role statement allows every action, a service's every
// action, or every resource; a wildcard ARN is allowed only for log
// streams (named by the runtime).
func (t tmpl) checkIAM() []error {
	var errs []error
	for name, r := range t.Resources {
		if r.Type != "AWS::IAM::Role" {
			continue
		}
		for _, p := range asList(r.Properties["Policies"]) {
			for _, st := range asList(dig(p, "PolicyDocument", "Statement")) {
				errs = append(errs, statementErrs(name, st)...)
			}
		}
	}
	return errs
}

func statementErrs(role string, st any) []error {
	var errs []error
	actions, resources := strs(dig(st, "Action")), dig(st, "Resource")
	logsOnly := len(actions) > 0
	for _, a := range actions {
		if strings.Contains(a, "*") {
			errs = append(errs, fmt.Errorf("role %s allows %q: name each action", role, a))
		}
		logsOnly = logsOnly && strings.HasPrefix(a, "logs:")
	}
	if dig(st, "Effect") != "Allow" {
		errs = append(errs, fmt.Errorf("role %s has a statement that is not Allow", role))
	}
	res := asList(resources)
	if s, ok := resources.(string); ok {
		res = []any{s}
	}
	for _, x := range res {
		if s, ok := x.(string); ok && (s == "*" || strings.HasSuffix(s, "*") && !logsOnly) {
			errs = append(errs, fmt.Errorf("role %s allows %v on %q: name each resource", role, actions, s))
		}
	}
	return errs
}

func strs(v any) []string {
	if s, ok := v.(string); ok {
		return []string{s}
	}
	var out []string
	for _, e := range asList(v) {
		out = append(out, fmt.Sprint(e))
	}
	return out
}
