package shadow

// Report is the comparison figures of every shadowed route, sorted by route.
// It is a snapshot: later comparisons do not change it.
type Report struct {
	Routes []RouteReport `json:"routes"`
}

// RouteReport is one route's figures.
type RouteReport struct {
	Route string `json:"route"`
	// Compared counts exchanges whose new answer was compared with legacy's.
	Compared int64 `json:"compared"`
	// NoiseCompared counts exchanges whose legacy answer was also compared
	// with legacy's second answer (reads only: writes are never replayed to legacy).
	NoiseCompared int64 `json:"noise_compared"`
	// Mismatched counts compared exchanges with at least one reported field.
	Mismatched int64 `json:"mismatched"`
	// MismatchRate is Mismatched / Compared.
	MismatchRate float64 `json:"mismatch_rate"`
	// Dropped counts exchanges refused because the queue was full.
	Dropped int64 `json:"dropped"`
	// Errors counts replayed calls that failed (transport error, timeout,
	// answer over MaxBodyBytes).
	Errors int64 `json:"errors"`
	// Fields are the fields that differed at least once, reported ones
	// first, then by mismatches.
	Fields []FieldReport `json:"fields"`
}

// FieldReport is one field's figures within a route. Field is the JSON path
// with array indices written as `*` ("items.*.sku"); "(status)" is the
// status code and "(body)" a non-JSON body compared as bytes.
type FieldReport struct {
	Field string `json:"field"`
	// Mismatches counts exchanges where new and legacy disagreed on the field.
	Mismatches int64 `json:"mismatches"`
	// Noise counts exchanges where legacy disagreed with itself on the field.
	Noise int64 `json:"noise"`
	// MismatchRate is Mismatches / Compared; NoiseRate is Noise / NoiseCompared.
	MismatchRate float64 `json:"mismatch_rate"`
	NoiseRate    float64 `json:"noise_rate"`
	// Reported says the field is a real difference: at least MinMismatches
	// mismatches and MismatchRate - NoiseRate > NoiseMargin.
	Reported bool `json:"reported"`
	// Samples are the most recent mismatches, oldest first.
	Samples []Sample `json:"samples"`
}

// Sample is one mismatch: the values as JSON text ("(absent)" when the
// field was missing), the concrete field path and the request path.
type Sample struct {
	Path   string `json:"path"`
	Field  string `json:"field"`
	Legacy string `json:"legacy"`
	New    string `json:"new"`
}
