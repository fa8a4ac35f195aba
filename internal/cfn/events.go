package cfn

import (
	"encoding/json"
	"fmt"

	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/events"
	"github.com/awslabs/goformation/v7/cloudformation/iam"
	"github.com/awslabs/goformation/v7/cloudformation/lambda"
	"github.com/awslabs/goformation/v7/cloudformation/secretsmanager"
)

const idEventsRole = "EventsApiDestinationRole"

// maxEventAge is how long EventBridge keeps retrying a delivery (a day).
const maxEventAge = 24 * 3600

// rule adds r with its targets: each with a retry policy and a dead-letter
// queue; a function target with the permission to invoke it, an HTTP
// target through an API destination whose connection holds a generated
// credential.
func (b *builder) rule(r Rule) {
	logical := id(r.Name, "rule")
	var pattern any
	if err := json.Unmarshal([]byte(r.Pattern), &pattern); err != nil {
		// Validated by the bus's config; kept as text so the check shows it.
		pattern = r.Pattern
	}
	rule := &events.Rule{Name: new(b.s.Name + "-" + r.Name), EventBusName: new(cloudformation.Ref(idBus)), EventPattern: pattern, State: new("ENABLED")}
	for _, t := range r.Targets {
		dlq := b.queue(id(r.Name, t.Name, "dlq"))
		b.queuePolicy(dlq, logical)
		tg := events.Rule_Target{
			Id:               t.Name,
			RetryPolicy:      &events.Rule_RetryPolicy{MaximumRetryAttempts: new(min(max(t.MaxAttempts-1, 0), 185)), MaximumEventAgeInSeconds: new(maxEventAge)},
			DeadLetterConfig: &events.Rule_DeadLetterConfig{Arn: new(cloudformation.GetAtt(dlq, "Arn"))},
		}
		if t.Function != "" {
			fn := funcID(t.Function)
			tg.Arn = cloudformation.GetAtt(fn, "Arn")
			b.t.Resources[id(r.Name, t.Name, "permission")] = &lambda.Permission{
				Action: "lambda:InvokeFunction", FunctionName: cloudformation.Ref(fn), Principal: "events.amazonaws.com",
				SourceArn: new(cloudformation.GetAtt(logical, "Arn")),
			}
		} else {
			tg.Arn = cloudformation.GetAtt(b.destination(r, t), "Arn")
			tg.RoleArn = new(cloudformation.GetAtt(idEventsRole, "Arn"))
		}
		rule.Targets = append(rule.Targets, tg)
	}
	b.t.Resources[logical] = rule
}

// destination adds t's API destination, its connection and the secret the
// connection's credential comes from, and lets the events role invoke it.
func (b *builder) destination(r Rule, t Target) string {
	secret, conn, dest := id(t.Name, "sink", "secret"), id(r.Name, t.Name, "connection"), id(r.Name, t.Name, "destination")
	resolve := func(key string) string {
		return cloudformation.Sub(fmt.Sprintf("{{resolve:secretsmanager:${%s}:SecretString:%s}}", secret, key))
	}
	gen := &secretsmanager.Secret_GenerateSecretString{PasswordLength: new(40), ExcludePunctuation: new(true)}
	c := &events.Connection{Name: new(b.s.Name + "-" + t.Name), Description: new("The credential EventBridge sends to " + t.Name + " (its sink's auth)")}
	if t.APIKeyHeader != "" {
		gen.SecretStringTemplate, gen.GenerateStringKey = new(`{}`), new("value")
		c.AuthorizationType = new("API_KEY")
		c.AuthParameters = &events.Connection_AuthParameters{ApiKeyAuthParameters: &events.Connection_ApiKeyAuthParameters{ApiKeyName: t.APIKeyHeader, ApiKeyValue: resolve("value")}}
	} else {
		gen.SecretStringTemplate, gen.GenerateStringKey = new(fmt.Sprintf(`{"username":%q}`, t.Username)), new("password")
		c.AuthorizationType = new("BASIC")
		c.AuthParameters = &events.Connection_AuthParameters{BasicAuthParameters: &events.Connection_BasicAuthParameters{Username: t.Username, Password: resolve("password")}}
	}
	if _, ok := b.t.Resources[secret]; !ok {
		b.t.Resources[secret] = &secretsmanager.Secret{
			Name:                 new(b.s.Name + "/sink/" + t.Name),
			Description:          new("The credential " + t.Name + " requires of EventBridge (give the same to its sink's config)."),
			GenerateSecretString: gen,
		}
	}
	b.t.Resources[conn] = c
	b.t.Resources[dest] = &events.ApiDestination{
		Name: new(b.s.Name + "-" + r.Name + "-" + t.Name), ConnectionArn: cloudformation.GetAtt(conn, "Arn"),
		HttpMethod: "POST", InvocationEndpoint: cloudformation.Ref(id(t.Name, "endpoint")), InvocationRateLimitPerSecond: new(300),
	}
	role, ok := b.t.Resources[idEventsRole].(*iam.Role)
	if !ok {
		role = &iam.Role{
			Description:              new("EventBridge invoking the API destinations"),
			AssumeRolePolicyDocument: assume("events.amazonaws.com"),
			Policies:                 []iam.Role_Policy{{PolicyName: "invoke-api-destinations", PolicyDocument: document()}},
		}
		b.t.Resources[idEventsRole] = role
	}
	addStatement(role.Policies[0].PolicyDocument, statement("InvokeApiDestination"+id(r.Name, t.Name), []string{"events:InvokeApiDestination"}, cloudformation.GetAtt(dest, "Arn")))
	return dest
}
