// Package problem writes HTTP errors as RFC 9457 problem details
// (application/problem+json) and decodes JSON request bodies into them, so
// every service of the toolkit answers bad input the same way: a 4xx that
// names the wrong field and says what to do.
package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ContentType is the media type of a problem document.
const ContentType = "application/problem+json"

// Problem is one problem document. Field names the request field that is
// wrong, as a JSON path ("items[0].quantity"), when one is.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Field  string `json:"field,omitempty"`
}

func (p *Problem) Error() string {
	if p.Field != "" {
		return fmt.Sprintf("%d %s: %s: %s", p.Status, p.Title, p.Field, p.Detail)
	}
	return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail)
}

// New returns a problem of status with a type derived from title.
func New(status int, title, detail string) *Problem {
	return &Problem{Type: "https://strangler.dev/problems/" + slug(title), Title: title, Status: status, Detail: detail}
}

// Invalid is a 400 naming the wrong field.
func Invalid(field, detail string) *Problem {
	p := New(http.StatusBadRequest, "Invalid request", detail)
	p.Field = field
	return p
}

// Write sends p.
func Write(w http.ResponseWriter, p *Problem) {
	w.Header().Set("Content-Type", ContentType)
	if p.Status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="orders"`)
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// DecodeJSON decodes one JSON object from r's body into v, refusing bodies
// over limit bytes, unknown fields, wrong types and trailing data. The
// returned problem names the field where the decoder can tell.
func DecodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) *Problem {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return New(http.StatusUnsupportedMediaType, "Unsupported media type",
			"send the body as application/json, not "+ct)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if dec.More() {
			return Invalid("", "the body must hold exactly one JSON object")
		}
		if _, err := dec.Token(); err != io.EOF {
			return Invalid("", "the body must hold exactly one JSON object")
		}
		return nil
	}
	var (
		tooBig  *http.MaxBytesError
		typeErr *json.UnmarshalTypeError
		synErr  *json.SyntaxError
	)
	switch {
	case errors.As(err, &tooBig):
		return New(http.StatusRequestEntityTooLarge, "Request too large",
			fmt.Sprintf("the body exceeds %d bytes", limit))
	case errors.As(err, &typeErr):
		return Invalid(typeErr.Field, fmt.Sprintf("must be a JSON %s, not %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value))
	case errors.As(err, &synErr):
		return Invalid("", fmt.Sprintf("malformed JSON at byte %d: %v", synErr.Offset, err))
	case errors.Is(err, io.EOF):
		return Invalid("", "the body is empty; send a JSON object")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return Invalid(field, "is not a known field; remove it")
	}
	return Invalid("", "malformed JSON: "+err.Error())
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int64", "int32", "uint32", "uint64", "float64":
		return "number"
	case "slice":
		return "array"
	case "struct", "map", "ptr":
		return "object"
	}
	return goKind
}

func slug(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), " ", "-")
}

// ReadResponse reads a JSON answer of at most limit bytes: a non-2xx status
// becomes a *Problem (the server's own document when it sent one), a 2xx
// body is decoded into out unless out is nil. It does not close the body.
func ReadResponse(resp *http.Response, limit int64, out any) error {
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		p := &Problem{}
		if json.Unmarshal(raw, p) != nil || p.Status == 0 || p.Title == "" {
			p = New(resp.StatusCode, http.StatusText(resp.StatusCode), strings.TrimSpace(string(raw)))
		}
		return p
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decoding the answer: %w", err)
	}
	return nil
}
