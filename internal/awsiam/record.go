// Package awsiam derives each part's IAM policy from the AWS calls the part
// is seen to make. A Recorder is an AWS SDK middleware that notes every
// call's part, IAM action and resources (tables, indexes, buses) while the
// integration suites run; `strangler aws iam merge` folds the notes into
// observed.json (checked in), which the CloudFormation template's policies
// and the runbook's IAM tables are generated from, and which a test
// compares with the template.
package awsiam

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
)

// Environment variables that turn recording on.
const (
	// EnvDir names the folder the recorders of a process write to (one
	// JSON-lines file per process). Unset, nothing is recorded.
	EnvDir = "STRANGLER_IAM_RECORD"
	// EnvPart names the part a process's unlabelled calls belong to (a test
	// package of one part sets it); a context label (WithPart) wins.
	EnvPart = "STRANGLER_IAM_PART"
)

// Call is one observed kind of call: a part made action on resource.
// Resource is "table/<name>", "table/<name>/index/<index>" or
// "event-bus/<name>", as the resource's ARN ends.
type Call struct {
	Part     string `json:"part"`
	Action   string `json:"action"`
	Resource string `json:"resource"`
}

type partKey struct{}

// WithPart labels ctx's AWS calls as part's.
func WithPart(ctx context.Context, part string) context.Context {
	return context.WithValue(ctx, partKey{}, part)
}

// PartOf returns ctx's part label, or "".
func PartOf(ctx context.Context) string {
	p, _ := ctx.Value(partKey{}).(string)
	return p
}

// Recorder appends each call it has not seen yet to its file. It is safe
// for concurrent use; make one with NewRecorder.
type Recorder struct {
	file string
	part string
	mu   sync.Mutex
	seen map[Call]bool
}

// NewRecorder returns a recorder writing to dir/<pid>.jsonl, whose
// unlabelled calls belong to part ("" records only labelled calls).
func NewRecorder(dir, part string) *Recorder {
	return &Recorder{file: filepath.Join(dir, fmt.Sprintf("calls-%d.jsonl", os.Getpid())), part: part, seen: map[Call]bool{}}
}

// FromEnv returns the recorder EnvDir and EnvPart ask for, or nil.
func FromEnv() *Recorder {
	dir := os.Getenv(EnvDir)
	if dir == "" {
		return nil
	}
	return NewRecorder(dir, os.Getenv(EnvPart))
}

// Middleware adds the recorder to an SDK client's stack (aws.Config's
// APIOptions).
func (r *Recorder) Middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("strangler.iam.record",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			r.observe(ctx, Action(awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx)), in.Parameters)
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
}

// observe records the call of action with input params, as the part that
// made it: ctx's label (a function's handler sets it), else the part whose
// code is on the stack, else the process's part (EnvPart: a call from a
// goroutine of shared code, like the events publisher's). A call that a
// test's own code made (setting up or inspecting tables) is not recorded.
func (r *Recorder) observe(ctx context.Context, action string, params any) {
	stackPart, test := callerPart()
	part := PartOf(ctx)
	switch {
	case part != "":
	case test:
		return
	case stackPart != "":
		part = stackPart
	default:
		part = r.part
	}
	if part == "" || part == skip {
		return
	}
	var fresh []Call
	r.mu.Lock()
	for _, c := range Calls(part, action, params) {
		if !r.seen[c] {
			r.seen[c] = true
			fresh = append(fresh, c)
		}
	}
	r.mu.Unlock()
	if len(fresh) > 0 {
		r.write(fresh)
	}
}

// write appends calls as JSON lines; a failure is reported on stderr (the
// recording is a test aid: it must not fail the call).
func (r *Recorder) write(calls []Call) {
	f, err := os.OpenFile(r.file, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "awsiam: recording:", err)
		return
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for _, c := range calls {
		if err := enc.Encode(c); err != nil {
			fmt.Fprintln(os.Stderr, "awsiam: recording:", err)
			return
		}
	}
}

// skip marks code whose calls are recorded only under a context label:
// the order service's (it runs as the functions of orders/lambdafn) and
// the local stack's stand-ins.
const skip = "-"

// stackParts maps a top-level folder of the module to the part its code
// runs as on AWS.
var stackParts = map[string]string{
	"cdc": "cdc", "migrator": "backfill", "proxy": "proxy",
	"orders": skip, "syncback": skip, "devstack": skip, "legacy": skip,
}

// callerPart walks the stack from the SDK call: test is true when the
// first frame of this module's code (outside awsiam and awsconf) is test
// code, a _test.go file or a test-support package (stacktest, bustest,
// contracttest); part is the part of the first frame in a part's folder.
func callerPart() (part string, test bool) {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	const mod = "github.com/anycompany/strangler/"
	first := true
	for {
		f, more := frames.Next()
		if strings.HasPrefix(f.Function, mod) {
			pkg, _, _ := strings.Cut(strings.TrimPrefix(f.Function, mod), ".")
			own := pkg == "internal/awsiam" || pkg == "internal/awsconf"
			if first && !own || strings.HasSuffix(f.File, "_test.go") {
				first = false
				if strings.HasSuffix(f.File, "_test.go") || strings.HasSuffix(pkg, "test") {
					return "", true
				}
			}
			top, _, _ := strings.Cut(pkg, "/")
			if p, ok := stackParts[top]; ok {
				return p, false
			}
		}
		if !more {
			return "", false
		}
	}
}

// Action is the IAM action of an SDK call: the service's IAM prefix and the
// operation.
func Action(serviceID, operation string) string {
	prefix := map[string]string{"DynamoDB": "dynamodb", "EventBridge": "events", "DynamoDB Streams": "dynamodb"}[serviceID]
	if prefix == "" {
		prefix = strings.ToLower(strings.ReplaceAll(serviceID, " ", ""))
	}
	return prefix + ":" + operation
}

// Calls are the IAM actions an SDK call with params needs, by resource. A
// DynamoDB transaction is authorised element by element, as the operation
// each element performs (there is no IAM action for TransactWriteItems or
// TransactGetItems itself).
func Calls(part, action string, params any) []Call {
	var out []Call
	add := func(action, res string) { out = append(out, Call{Part: part, Action: action, Resource: res}) }
	switch in := params.(type) {
	case *dynamodb.TransactWriteItemsInput:
		for _, it := range in.TransactItems {
			switch {
			case it.Put != nil:
				add("dynamodb:PutItem", "table/"+aws.ToString(it.Put.TableName))
			case it.Update != nil:
				add("dynamodb:UpdateItem", "table/"+aws.ToString(it.Update.TableName))
			case it.Delete != nil:
				add("dynamodb:DeleteItem", "table/"+aws.ToString(it.Delete.TableName))
			case it.ConditionCheck != nil:
				add("dynamodb:ConditionCheckItem", "table/"+aws.ToString(it.ConditionCheck.TableName))
			}
		}
	case *dynamodb.TransactGetItemsInput:
		for _, it := range in.TransactItems {
			if it.Get != nil {
				add("dynamodb:GetItem", "table/"+aws.ToString(it.Get.TableName))
			}
		}
	default:
		for _, res := range Resources(params) {
			add(action, res)
		}
	}
	return out
}

// Resources lists the resources an SDK input names: every TableName (its
// index instead when the same struct has an IndexName), every key of a
// RequestItems map, and every EventBusName (the default bus when an entry
// names none). A call that names none (ListTables) is on "*".
func Resources(params any) []string {
	set := map[string]bool{}
	walk(reflect.ValueOf(params), set)
	out := make([]string, 0, len(set))
	for r := range set {
		out = append(out, r)
	}
	slices.Sort(out)
	if len(out) == 0 {
		return []string{"*"}
	}
	return out
}

func walk(v reflect.Value, set map[string]bool) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		walkStruct(v, set)
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			walk(v.Index(i), set)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			walk(v.MapIndex(k), set)
		}
	}
}

func walkStruct(v reflect.Value, set map[string]bool) {
	t := v.Type()
	str := func(name string) (string, bool) {
		f := v.FieldByName(name)
		if !f.IsValid() || f.Kind() != reflect.Pointer || f.IsNil() || f.Elem().Kind() != reflect.String {
			return "", f.IsValid()
		}
		return f.Elem().String(), true
	}
	if table, ok := str("TableName"); ok && table != "" {
		if index, _ := str("IndexName"); index != "" {
			set["table/"+table+"/index/"+index] = true
		} else {
			set["table/"+table] = true
		}
	}
	if bus, ok := str("EventBusName"); ok && t.Name() == "PutEventsRequestEntry" {
		if bus == "" {
			bus = "default"
		}
		set["event-bus/"+bus] = true
	}
	if items := v.FieldByName("RequestItems"); items.IsValid() && items.Kind() == reflect.Map {
		for _, k := range items.MapKeys() {
			set["table/"+k.String()] = true
		}
	}
	for i := range v.NumField() {
		if t.Field(i).IsExported() {
			walk(v.Field(i), set)
		}
	}
}
