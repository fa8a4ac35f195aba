package eventbus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The AWS JSON 1.1 protocol as EventBridge speaks it: every call is POST /
// with the operation in X-Amz-Target ("AWSEvents.PutEvents") and the body
// in application/x-amz-json-1.1; errors are 400 (client) or 500 (server)
// with {"__type": "<code>", "message": "…"}.
const (
	amzJSONContentType = "application/x-amz-json-1.1"
	targetPrefix       = "AWSEvents."
)

// Limits of PutEvents, as documented by AWS.
const (
	// MaxEntries is the most entries one PutEvents call may carry.
	MaxEntries = 10
	// MaxRequestSize is the most bytes the entries of one call may add up
	// to, counted as EntrySize counts them.
	MaxRequestSize = 256 * 1024
	// maxBodyBytes caps the HTTP body: the entries' size plus JSON framing
	// and escaping; a body beyond it cannot be under MaxRequestSize.
	maxBodyBytes = 8 * MaxRequestSize
)

// Error codes of the protocol.
const (
	codeValidation       = "ValidationException"
	codeThrottling       = "ThrottlingException"
	codeUnknownOperation = "UnknownOperationException"
	codeSerialization    = "SerializationException"
	codeInternal         = "InternalException"

	// Per-entry codes in PutEvents results.
	entryInvalidArgument = "InvalidArgument"
	entryMalformedDetail = "MalformedDetail"
	entryNotFound        = "ResourceNotFoundException"
	entryNotAuthorized   = "NotAuthorizedForSourceException"
	entryInternalFailure = "InternalFailure"
)

// PutEventsRequest is the body of AWSEvents.PutEvents.
type PutEventsRequest struct {
	Entries    []RequestEntry `json:"Entries"`
	EndpointID string         `json:"EndpointId,omitempty"`
}

// RequestEntry is one event of a PutEvents call. Pointers tell a missing
// field from an empty one, as the service does.
type RequestEntry struct {
	Source       *string  `json:"Source,omitempty"`
	DetailType   *string  `json:"DetailType,omitempty"`
	Detail       *string  `json:"Detail,omitempty"`
	Resources    []string `json:"Resources,omitempty"`
	Time         *AWSTime `json:"Time,omitempty"`
	EventBusName *string  `json:"EventBusName,omitempty"`
	TraceHeader  *string  `json:"TraceHeader,omitempty"`
}

// PutEventsResponse is the answer to PutEvents: one result per entry, in
// the order sent.
type PutEventsResponse struct {
	FailedEntryCount int           `json:"FailedEntryCount"`
	Entries          []ResultEntry `json:"Entries"`
}

// ResultEntry is either an accepted entry (EventID set) or a failed one
// (ErrorCode and ErrorMessage set).
type ResultEntry struct {
	EventID      string `json:"EventId,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

// AWSTime is a timestamp as the JSON 1.1 protocol carries it: epoch seconds
// (a number, maybe fractional) from the SDKs; an RFC 3339 string is also
// taken.
type AWSTime struct{ time.Time }

// UnmarshalJSON accepts epoch seconds or an RFC 3339 string.
func (t *AWSTime) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if v, err := time.Parse(time.RFC3339Nano, s); err == nil {
			t.Time = v
			return nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("timestamp %q is neither epoch seconds nor RFC 3339", s)
		}
		b = []byte(strconv.FormatFloat(f, 'f', -1, 64))
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("timestamp %s is not epoch seconds", b)
	}
	sec, frac := math.Modf(f)
	t.Time = time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC()
	return nil
}

// MarshalJSON writes epoch seconds, as the SDKs send it.
func (t AWSTime) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', -1, 64)), nil
}

// EntrySize is the size of e as AWS counts it against the 256 KiB limit of
// a PutEvents call: 14 bytes for a Time, plus the UTF-8 bytes of Source,
// DetailType, Detail and every Resources element.
// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html
func EntrySize(e RequestEntry) int {
	n := 0
	if e.Time != nil {
		n += 14
	}
	if e.Source != nil {
		n += len(*e.Source)
	}
	if e.DetailType != nil {
		n += len(*e.DetailType)
	}
	if e.Detail != nil {
		n += len(*e.Detail)
	}
	for _, r := range e.Resources {
		n += len(r)
	}
	return n
}

// Envelope is an event as EventBridge delivers it to targets and as the
// archive keeps it.
type Envelope struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
	// ReplayName is set on events re-delivered by a replay, as on AWS.
	ReplayName string `json:"replay-name,omitempty"`
}

// envelopeTime is the layout of Envelope.Time (EventBridge: seconds, UTC).
const envelopeTime = "2006-01-02T15:04:05Z"

// checkEntry validates one entry the way the service does and returns the
// per-entry error code and message, or "" when the entry is acceptable.
func checkEntry(e RequestEntry, buses map[string]bool) (code, msg string) {
	required := func(name string, v *string) (string, string) {
		if v == nil || *v == "" {
			return entryInvalidArgument, fmt.Sprintf("Parameter %s is not valid. Reason: %s is a required argument.", name, name)
		}
		return "", ""
	}
	if c, m := required("Source", e.Source); c != "" {
		return c, m
	}
	if c, m := required("DetailType", e.DetailType); c != "" {
		return c, m
	}
	if c, m := required("Detail", e.Detail); c != "" {
		return c, m
	}
	if len(*e.Source) > 256 || !utf8.ValidString(*e.Source) {
		return entryInvalidArgument, "Parameter Source is not valid. Reason: Source must be at most 256 characters of valid UTF-8."
	}
	if len(*e.DetailType) > 128 || !utf8.ValidString(*e.DetailType) {
		return entryInvalidArgument, "Parameter DetailType is not valid. Reason: DetailType must be at most 128 characters of valid UTF-8."
	}
	if strings.HasPrefix(*e.Source, "aws.") {
		return entryNotAuthorized, "Not authorized for the source."
	}
	if !isJSONObject(*e.Detail) {
		return entryMalformedDetail, "Detail is malformed."
	}
	bus := busName(e)
	if !buses[bus] {
		return entryNotFound, fmt.Sprintf("Event bus %s does not exist.", bus)
	}
	return "", ""
}

// busName is the bus an entry goes to: its EventBusName (a name, or an ARN
// whose last segment is the name), else "default".
func busName(e RequestEntry) string {
	if e.EventBusName == nil || *e.EventBusName == "" {
		return DefaultBus
	}
	name := *e.EventBusName
	if strings.HasPrefix(name, "arn:") {
		if i := strings.LastIndex(name, "/"); i >= 0 {
			return name[i+1:]
		}
	}
	return name
}

func isJSONObject(s string) bool {
	b := bytes.TrimSpace([]byte(s))
	return len(b) > 1 && b[0] == '{' && json.Valid(b)
}

// awsError is a whole-call error of the protocol.
type awsError struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

func writeAWSError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("X-Amzn-ErrorType", code)
	writeAWSJSON(w, status, awsError{Type: code, Message: msg})
}

func writeAWSJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // cannot happen: the protocol types always marshal
		status, b = http.StatusInternalServerError, []byte(`{"__type":"InternalException","message":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", amzJSONContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
