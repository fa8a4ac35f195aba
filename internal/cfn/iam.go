package cfn

import (
	"slices"

	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/iam"
)

// assume is the trust policy letting service assume a role.
func assume(service string) map[string]any {
	return map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Effect": "Allow", "Principal": map[string]any{"Service": service}, "Action": "sts:AssumeRole",
	}}}
}

// document is an empty policy document.
func document() map[string]any {
	return map[string]any{"Version": "2012-10-17", "Statement": []any{}}
}

func statement(sid string, actions []string, resources ...string) map[string]any {
	return map[string]any{"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}
}

func addStatement(doc any, st map[string]any) {
	d := doc.(map[string]any)
	d["Statement"] = append(d["Statement"].([]any), st)
}

// arnOf is the ARN of a logical resource of a Grant ("*" for one the
// template does not know: the checks refuse it).
func (b *builder) arnOf(res string) string {
	switch res {
	case ResOrdersTable:
		return cloudformation.GetAtt(idOrdersTable, "Arn")
	case ResOrdersIndex:
		return cloudformation.Sub("${" + idOrdersTable + ".Arn}/index/" + b.s.OrdersIndex)
	case ResServiceTable:
		return cloudformation.GetAtt(idServiceTable, "Arn")
	case ResControlTable:
		return cloudformation.GetAtt(idControlTable, "Arn")
	case ResBus:
		return cloudformation.GetAtt(idBus, "Arn")
	}
	return "*"
}

// observed is the statement list of part's grants: one statement per
// action, on the resources the part was seen to call it on.
func (b *builder) observed(part string) []any {
	byAction := map[string][]string{}
	var actions []string
	for _, g := range b.s.Grants {
		if g.Part != part {
			continue
		}
		if _, ok := byAction[g.Action]; !ok {
			actions = append(actions, g.Action)
		}
		byAction[g.Action] = append(byAction[g.Action], g.Resource)
	}
	slices.Sort(actions)
	var out []any
	for _, a := range actions {
		res := byAction[a]
		slices.Sort(res)
		arns := make([]string, 0, len(res))
		for _, r := range slices.Compact(res) {
			arns = append(arns, b.arnOf(r))
		}
		out = append(out, statement(id("observed", a), []string{a}, arns...))
	}
	return out
}

// PolicyObserved and PolicyPlatform name a part role's two policies: the
// calls the part's code makes (observed, compared with the recording by
// the tests) and what the platform does with the role (logs, reading the
// stream, dead-letter queues).
const (
	PolicyObserved = "observed-calls"
	PolicyPlatform = "platform"
)

// role adds part's role, assumed by service, with its observed policy and
// the platform statements.
func (b *builder) role(part, service string, platform ...map[string]any) string {
	logical := id(part, "role")
	r := &iam.Role{
		Description:              new("strangler " + part + ": least privilege, from the calls the part was seen to make (internal/awsiam/observed.json)"),
		AssumeRolePolicyDocument: assume(service),
	}
	if obs := b.observed(part); len(obs) > 0 {
		r.Policies = append(r.Policies, iam.Role_Policy{PolicyName: PolicyObserved, PolicyDocument: map[string]any{"Version": "2012-10-17", "Statement": obs}})
	}
	if len(platform) > 0 {
		doc := document()
		for _, st := range platform {
			addStatement(doc, st)
		}
		r.Policies = append(r.Policies, iam.Role_Policy{PolicyName: PolicyPlatform, PolicyDocument: doc})
	}
	b.t.Resources[logical] = r
	return logical
}

// logsStatement lets a role write to log group lg.
func logsStatement(lg string) map[string]any {
	return statement("WriteLogs", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, cloudformation.GetAtt(lg, "Arn"))
}
