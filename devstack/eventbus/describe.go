package eventbus

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/schemas"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"
)

// The read-only calls strangler doctor makes: DescribeEventBus and
// ListRules, answered from the configuration (buses, rules) in the shapes
// of the SDK's own output types, encoded by the SDK's awsJson 1.1 codec.

// describeEventBus answers AWSEvents.DescribeEventBus: the named bus
// (default when Name is absent), or ResourceNotFoundException.
func (s *Server) describeEventBus(w http.ResponseWriter, body []byte) {
	var req struct {
		Name *string `json:"Name"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeAWSError(w, http.StatusBadRequest, codeSerialization, "the request body is not a valid DescribeEventBus request: "+err.Error())
		return
	}
	name := busArg(req.Name)
	if !s.buses[name] {
		writeAWSError(w, http.StatusBadRequest, entryNotFound, fmt.Sprintf("Event bus %s does not exist.", name))
		return
	}
	s.writeSDK(w, schemas.DescribeEventBus, schemas.DescribeEventBusResponse, &eventbridge.DescribeEventBusOutput{
		Name: aws.String(name),
		Arn:  aws.String(s.arn("event-bus/" + name)),
	})
}

// maxListRules is ListRules' largest (and default) page.
const maxListRules = 100

// listRules answers AWSEvents.ListRules: the rules of one bus (default
// when EventBusName is absent), filtered by NamePrefix, a page of Limit at
// a time; NextToken is the index of the next rule.
func (s *Server) listRules(w http.ResponseWriter, body []byte) {
	var req struct {
		EventBusName *string `json:"EventBusName"`
		NamePrefix   string  `json:"NamePrefix"`
		Limit        *int    `json:"Limit"`
		NextToken    *string `json:"NextToken"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeAWSError(w, http.StatusBadRequest, codeSerialization, "the request body is not a valid ListRules request: "+err.Error())
		return
	}
	bus := busArg(req.EventBusName)
	if !s.buses[bus] {
		writeAWSError(w, http.StatusBadRequest, entryNotFound, fmt.Sprintf("Event bus %s does not exist.", bus))
		return
	}
	limit := maxListRules
	if req.Limit != nil {
		if *req.Limit < 1 || *req.Limit > maxListRules {
			writeAWSError(w, http.StatusBadRequest, codeValidation, fmt.Sprintf("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and %d", *req.Limit, maxListRules))
			return
		}
		limit = *req.Limit
	}
	var rules []types.Rule
	for _, r := range s.cfg.Rules {
		if busArg(&r.Bus) == bus && strings.HasPrefix(r.Name, req.NamePrefix) {
			rules = append(rules, s.rule(r, bus))
		}
	}
	start := 0
	if req.NextToken != nil {
		n, err := strconv.Atoi(*req.NextToken)
		if err != nil || n < 0 || n > len(rules) {
			writeAWSError(w, http.StatusBadRequest, codeValidation, "NextToken is not one this bus returned")
			return
		}
		start = n
	}
	out := &eventbridge.ListRulesOutput{Rules: rules[start:min(start+limit, len(rules))]}
	if start+limit < len(rules) {
		out.NextToken = aws.String(strconv.Itoa(start + limit))
	}
	if out.Rules == nil {
		out.Rules = []types.Rule{}
	}
	s.writeSDK(w, schemas.ListRules, schemas.ListRulesResponse, out)
}

// rule is r as ListRules describes it: every configured rule is enabled.
func (s *Server) rule(r RuleConfig, bus string) types.Rule {
	path := "rule/" + r.Name
	if bus != DefaultBus {
		path = "rule/" + bus + "/" + r.Name
	}
	return types.Rule{
		Name:         aws.String(r.Name),
		Arn:          aws.String(s.arn(path)),
		EventPattern: aws.String(r.Pattern),
		State:        types.RuleStateEnabled,
		EventBusName: aws.String(bus),
	}
}

func (s *Server) arn(resource string) string {
	return "arn:aws:events:" + s.cfg.Region + ":" + s.cfg.Account + ":" + resource
}

// busArg is the bus a call names: default when absent or empty. An ARN
// names the bus after its last slash.
func busArg(name *string) string {
	if name == nil || *name == "" {
		return DefaultBus
	}
	if i := strings.LastIndexByte(*name, '/'); i >= 0 && strings.HasPrefix(*name, "arn:") {
		return (*name)[i+1:]
	}
	return *name
}

// writeSDK writes out, an output shape of the SDK, as EventBridge sends it:
// the SDK's own awsJson 1.1 codec encodes it. That codec only exposes
// encoding through SerializeRequest; in awsJson a body is the bare shape,
// the same on both sides, so encoding out as if it were the input of an
// operation whose input schema is op's output schema gives the response body.
func (s *Server) writeSDK(w http.ResponseWriter, op, output *smithy.Schema, out smithy.Serializable) {
	b, err := encodeSDK(op, output, out)
	if err != nil {
		writeAWSError(w, http.StatusInternalServerError, codeInternal, "encoding the answer failed: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", amzJSONContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func encodeSDK(op, output *smithy.Schema, out smithy.Serializable) ([]byte, error) {
	req := smithyhttp.NewStackRequest().(*smithyhttp.Request)
	proto := awsjson.New11(schemas.AWSEvents)
	if err := proto.SerializeRequest(context.Background(), smithy.NewOperationSchema(op, output, output), out, req); err != nil {
		return nil, fmt.Errorf("encoding %s: %w", op.ID().Name, err)
	}
	var b bytes.Buffer
	if _, err := io.Copy(&b, req.GetStream()); err != nil {
		return nil, fmt.Errorf("encoding %s: %w", op.ID().Name, err)
	}
	return b.Bytes(), nil
}
