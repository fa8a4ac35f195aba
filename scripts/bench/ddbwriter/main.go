// Command ddbwriter is the bare SDK writer of scripts/bench/backfill.sh: the
// sink ceiling the backfill is judged against. It uses only the AWS SDK and
// the standard library (no project code), writes N order-shaped items into a
// DynamoDB endpoint with the write kind the backfill uses, and prints one
// line of JSON with what it did.
//
// Items are built from sample rows (-rows: one JSON object per line, as
// MariaDB's JSON_OBJECT prints them; top-level strings named by -numeric
// become N, nested objects M, arrays L, nested numbers N, top-level nulls are
// absent), cycled over N fresh keys, each stamped with src_pos like the
// backfill's items.
//
// Modes:
//
//	put       conditional PutItem (the position guard), -concurrency in flight
//	transact  TransactWriteItems of 100 guarded puts, -concurrency in flight
//	batch     unconditional BatchWriteItem of 25, -concurrency in flight
//
// -create makes the table (key pk, string) when missing; -drop deletes the
// named tables and exits.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// guard is the backfill's position guard (internal/guard.Condition).
const guard = "attribute_not_exists(#pk) OR #pos < :pos"

// srcPos is the position every item is stamped with: a MariaDB-GTID-like
// encoded number, as long as the backfill's.
const srcPos = "1000000000000000420000000001"

func main() {
	var (
		endpoint    = flag.String("endpoint", "http://127.0.0.1:8000", "DynamoDB endpoint")
		table       = flag.String("table", "", "table to write into")
		mode        = flag.String("mode", "put", "put, transact or batch")
		n           = flag.Int("n", 100000, "items to write")
		offset      = flag.Int("offset", 0, "first key is offset+1")
		concurrency = flag.Int("concurrency", 16, "calls in flight")
		rowsFile    = flag.String("rows", "", "sample rows, one JSON object a line")
		numeric     = flag.String("numeric", "total,version", "top-level attributes that are numbers given as strings")
		create      = flag.Bool("create", false, "create the table (pk S, on demand) when missing")
		drop        = flag.String("drop", "", "delete these tables (comma-separated) and exit")
		maxConns    = flag.Int("max-conns", 128, "idle connections kept per host")
	)
	flag.Parse()
	if err := run(context.Background(), options{
		endpoint: *endpoint, table: *table, mode: *mode, n: *n, offset: *offset, concurrency: *concurrency,
		rowsFile: *rowsFile, numeric: *numeric, create: *create, drop: *drop, maxConns: *maxConns,
	}); err != nil {
		fmt.Fprintln(os.Stderr, "ddbwriter:", err)
		os.Exit(1)
	}
}

type options struct {
	endpoint, table, mode, rowsFile, numeric, drop string
	n, offset, concurrency, maxConns               int
	create                                         bool
}

// result is the line printed at the end.
type result struct {
	Mode        string  `json:"mode"`
	Table       string  `json:"table"`
	Items       int64   `json:"items"`
	Calls       int64   `json:"calls"`
	Skipped     int64   `json:"skipped"`
	Retried     int64   `json:"retried"`
	Concurrency int     `json:"concurrency"`
	Seconds     float64 `json:"seconds"`
	ItemsPerSec float64 `json:"items_per_second"`
	ItemBytes   int     `json:"avg_item_json_bytes"`
}

func run(ctx context.Context, o options) error {
	client, err := newClient(ctx, o.endpoint, o.maxConns)
	if err != nil {
		return err
	}
	if o.drop != "" {
		for _, t := range strings.Split(o.drop, ",") {
			_, err := client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(t)})
			var nf *types.ResourceNotFoundException
			if err != nil && !errors.As(err, &nf) {
				return fmt.Errorf("deleting table %s: %w", t, err)
			}
		}
		return nil
	}
	if o.table == "" {
		return errors.New("-table is required")
	}
	if o.create {
		if err := createTable(ctx, client, o.table); err != nil {
			return err
		}
	}
	num := map[string]bool{}
	for _, a := range strings.Split(o.numeric, ",") {
		num[a] = true
	}
	samples, avg, err := loadSamples(o.rowsFile, num)
	if err != nil {
		return err
	}
	w := &writer{api: client, table: o.table, samples: samples, n: int64(o.n), offset: int64(o.offset)}
	var batch int64
	var call func(context.Context, int64, int64) error
	switch o.mode {
	case "put":
		batch, call = 1, w.put
	case "transact":
		batch, call = 100, w.transact
	case "batch":
		batch, call = 25, w.batch
	default:
		return fmt.Errorf("unknown -mode %q: want put, transact or batch", o.mode)
	}
	start := time.Now()
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range o.concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				hi := w.next.Add(batch)
				lo := hi - batch
				if lo >= w.n {
					return
				}
				if err := call(ctx, lo, min(hi, w.n)); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	secs := time.Since(start).Seconds()
	res := result{Mode: o.mode, Table: o.table, Items: w.written.Load(), Calls: w.calls.Load(), Skipped: w.skipped.Load(),
		Retried: w.retried.Load(), Concurrency: o.concurrency, Seconds: secs, ItemsPerSec: float64(w.written.Load()) / secs, ItemBytes: avg}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// newClient builds the SDK client the way a careful user would: the SDK's
// buildable HTTP client with enough idle connections per host.
func newClient(ctx context.Context, endpoint string, maxConns int) (*dynamodb.Client, error) {
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = 2 * maxConns
		t.MaxIdleConnsPerHost = maxConns
		t.IdleConnTimeout = 90 * time.Second
	})
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion("us-east-1"), awsconfig.WithHTTPClient(hc),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.DisableValidateResponseChecksum = true
	}), nil
}

func createTable(ctx context.Context, client *dynamodb.Client, table string) error {
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("creating table %s: %w", table, err)
	}
	return dynamodb.NewTableExistsWaiter(client).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, time.Minute)
}

// loadSamples reads the sample rows as items without pk. With no file it
// synthesises one order of the legacy table's shape.
func loadSamples(path string, num map[string]bool) ([]map[string]types.AttributeValue, int, error) {
	var r io.Reader = strings.NewReader(`{"customer_id":"cust-r-0001","channel":"retail","status":"shipped","currency":"USD","items":[{"sku":"TLS-2001","name":"Microfibre Cloths (12)","quantity":1,"unit_price":"9.99"},{"sku":"TLS-2003","name":"Spray Mop with Refill Pad","quantity":3,"unit_price":"29.99"},{"sku":"CLN-1017","name":"Drain Unblocker 1 L","quantity":2,"unit_price":"5.79"}],"total":"111.54","shipping_address":{"name":"Chen Patel","line1":"270 Lakeview Dr","city":"Chicago","region":"IL","postal_code":"60673","country":"US"},"idempotency_key":"hist-dn1qtwjyaxel-1","created_at":"2025-11-22T12:38:26.055892Z","updated_at":"2025-11-26T01:34:07.034078Z","version":3}`)
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, 0, fmt.Errorf("opening sample rows: %w", err)
		}
		defer f.Close()
		r = f
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var (
		out   []map[string]types.AttributeValue
		bytes int
	)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(string(line)))
		dec.UseNumber()
		var row map[string]any
		if err := dec.Decode(&row); err != nil {
			return nil, 0, fmt.Errorf("sample row %d: %w", len(out)+1, err)
		}
		item := make(map[string]types.AttributeValue, len(row))
		for k, v := range row {
			if v == nil || k == "pk" {
				continue
			}
			if s, ok := v.(string); ok && num[k] {
				item[k] = &types.AttributeValueMemberN{Value: s}
				continue
			}
			item[k] = attr(v)
		}
		bytes += len(line)
		out = append(out, item)
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("reading sample rows: %w", err)
	}
	if len(out) == 0 {
		return nil, 0, errors.New("no sample rows")
	}
	return out, bytes / len(out), nil
}

func attr(v any) types.AttributeValue {
	switch v := v.(type) {
	case nil:
		return &types.AttributeValueMemberNULL{Value: true}
	case bool:
		return &types.AttributeValueMemberBOOL{Value: v}
	case json.Number:
		return &types.AttributeValueMemberN{Value: v.String()}
	case string:
		return &types.AttributeValueMemberS{Value: v}
	case []any:
		l := make([]types.AttributeValue, len(v))
		for i, e := range v {
			l[i] = attr(e)
		}
		return &types.AttributeValueMemberL{Value: l}
	case map[string]any:
		m := make(map[string]types.AttributeValue, len(v))
		for k, e := range v {
			m[k] = attr(e)
		}
		return &types.AttributeValueMemberM{Value: m}
	}
	panic(fmt.Sprintf("unexpected JSON value %T", v))
}

// writer hands out key ranges and counts what was written.
type writer struct {
	api     *dynamodb.Client
	table   string
	samples []map[string]types.AttributeValue
	n       int64
	offset  int64

	next, written, calls, skipped, retried atomic.Int64
}

// item builds key i's item: a fresh map, like the backfill's codec does.
func (w *writer) item(i int64) map[string]types.AttributeValue {
	s := w.samples[i%int64(len(w.samples))]
	it := make(map[string]types.AttributeValue, len(s)+2)
	for k, v := range s {
		it[k] = v
	}
	it["pk"] = &types.AttributeValueMemberS{Value: strconv.FormatInt(w.offset+i+1, 10)}
	it["src_pos"] = &types.AttributeValueMemberN{Value: srcPos}
	return it
}

func guardNames() map[string]string { return map[string]string{"#pk": "pk", "#pos": "src_pos"} }

func guardValues() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{":pos": &types.AttributeValueMemberN{Value: srcPos}}
}

// retry runs f until it succeeds or fails with something other than
// throttling, with a short backoff.
func (w *writer) retry(ctx context.Context, f func() error) error {
	for attempt := 0; ; attempt++ {
		w.calls.Add(1)
		err := f()
		var ae interface{ ErrorCode() string }
		if err == nil || attempt >= 10 || !errors.As(err, &ae) ||
			(ae.ErrorCode() != "ThrottlingException" && ae.ErrorCode() != "ProvisionedThroughputExceededException" && ae.ErrorCode() != "InternalServerError") {
			return err
		}
		w.retried.Add(1)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(10<<min(attempt, 6)) * time.Millisecond):
		}
	}
}

func (w *writer) put(ctx context.Context, lo, hi int64) error {
	for i := lo; i < hi; i++ {
		in := &dynamodb.PutItemInput{TableName: aws.String(w.table), Item: w.item(i), ConditionExpression: aws.String(guard),
			ExpressionAttributeNames: guardNames(), ExpressionAttributeValues: guardValues()}
		err := w.retry(ctx, func() error { _, err := w.api.PutItem(ctx, in); return err })
		var ccf *types.ConditionalCheckFailedException
		switch {
		case err == nil:
			w.written.Add(1)
		case errors.As(err, &ccf):
			w.skipped.Add(1)
		default:
			return fmt.Errorf("PutItem: %w", err)
		}
	}
	return nil
}

func (w *writer) transact(ctx context.Context, lo, hi int64) error {
	tx := make([]types.TransactWriteItem, 0, hi-lo)
	for i := lo; i < hi; i++ {
		tx = append(tx, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(w.table), Item: w.item(i),
			ConditionExpression: aws.String(guard), ExpressionAttributeNames: guardNames(), ExpressionAttributeValues: guardValues()}})
	}
	err := w.retry(ctx, func() error {
		_, err := w.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
		return err
	})
	if err != nil {
		return fmt.Errorf("TransactWriteItems: %w", err)
	}
	w.written.Add(hi - lo)
	return nil
}

func (w *writer) batch(ctx context.Context, lo, hi int64) error {
	reqs := make([]types.WriteRequest, 0, hi-lo)
	for i := lo; i < hi; i++ {
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: w.item(i)}})
	}
	for attempt := 0; len(reqs) > 0; attempt++ {
		var out *dynamodb.BatchWriteItemOutput
		err := w.retry(ctx, func() error {
			var err error
			out, err = w.api.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{w.table: reqs}})
			return err
		})
		if err != nil {
			return fmt.Errorf("BatchWriteItem: %w", err)
		}
		left := out.UnprocessedItems[w.table]
		w.written.Add(int64(len(reqs) - len(left)))
		reqs = left
		if len(reqs) > 0 {
			w.retried.Add(1)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(10<<min(attempt, 6)) * time.Millisecond):
			}
		}
	}
	return nil
}
