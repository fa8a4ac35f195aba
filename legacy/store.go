package legacy

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/internal/orderapi"
	"github.com/anycompany/strangler/internal/orderitem"
)

// Store keeps orders in the legacy MySQL table. It is safe for concurrent
// use. Every query is parameterised.
type Store struct {
	db  *sql.DB
	now func() time.Time
}

// NewStore returns a store over db; now is the clock (time.Now when nil).
func NewStore(db *sql.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now}
}

const orderColumns = "id, order_ref, customer_id, channel, status, currency, items, total, shipping_address, notes, created_at, updated_at, version"

type rowScanner interface{ Scan(...any) error }

func scanOrder(r rowScanner) (order.Order, error) {
	o, _, err := scanRow(r)
	return o, err
}

// scanRow reads one row of orderColumns: the order, served under its
// order_ref when it has one (an order the new service created), and the
// row's own surrogate id (for locking and cursors).
func scanRow(r rowScanner) (order.Order, uint64, error) {
	var (
		o                order.Order
		id               uint64
		ref              sql.NullString
		items, total     string
		addr, notes      sql.NullString
		created, updated time.Time
		channel, status  string
	)
	if err := r.Scan(&id, &ref, &o.CustomerID, &channel, &status, &o.Currency, &items, &total, &addr, &notes, &created, &updated, &o.Version); err != nil {
		return o, 0, err
	}
	o.ID = strconv.FormatUint(id, 10)
	if ref.Valid {
		o.ID = ref.String
	}
	o.Channel, o.Status = order.Channel(channel), order.Status(status)
	if err := json.Unmarshal([]byte(items), &o.Items); err != nil {
		return o, id, fmt.Errorf("order %s: decoding items: %w", o.ID, err)
	}
	t, err := order.ParseMoney(total)
	if err != nil {
		return o, id, fmt.Errorf("order %s: total: %w", o.ID, err)
	}
	o.Total = t
	if addr.Valid {
		o.ShippingAddress = new(order.Address)
		if err := json.Unmarshal([]byte(addr.String), o.ShippingAddress); err != nil {
			return o, id, fmt.Errorf("order %s: decoding shipping_address: %w", o.ID, err)
		}
	}
	o.Notes = notes.String
	o.CreatedAt, o.UpdatedAt = order.NewTimestamp(created), order.NewTimestamp(updated)
	return o, id, nil
}

// Create stores a new accepted order in one transaction. With an
// idempotency key, a replay of the same request returns the stored order
// and replayed=true; the key with another request is orderapi.ErrIdempotencyConflict.
func (s *Store) Create(ctx context.Context, d order.Draft, idemKey string) (o order.Order, replayed bool, err error) {
	if idemKey != "" {
		if o, err := s.byIdempotencyKey(ctx, idemKey); err == nil {
			return replay(d, o)
		} else if !errors.Is(err, orderapi.ErrNotFound) {
			return o, false, err
		}
	}
	items, err := json.Marshal(d.Items)
	if err != nil {
		return o, false, fmt.Errorf("encoding items: %w", err)
	}
	var addr, notes, key any
	if d.ShippingAddress != nil {
		b, err := json.Marshal(d.ShippingAddress)
		if err != nil {
			return o, false, fmt.Errorf("encoding shipping_address: %w", err)
		}
		addr = string(b)
	}
	if d.Notes != "" {
		notes = d.Notes
	}
	if idemKey != "" {
		key = idemKey
	}
	now := order.NewTimestamp(s.now())
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return o, false, fmt.Errorf("beginning the order transaction: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	res, err := tx.ExecContext(ctx, `INSERT INTO orders
		(customer_id, channel, status, currency, items, total, shipping_address, notes, idempotency_key, created_at, updated_at, version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
		d.CustomerID, string(d.Channel), string(order.Accepted), d.Currency, string(items), d.Total.String(),
		addr, notes, key, now.Time, now.Time)
	if err != nil {
		var me *mysql.MySQLError
		if idemKey != "" && errors.As(err, &me) && me.Number == 1062 {
			// A concurrent request with the same key won the race.
			_ = tx.Rollback()
			o, err := s.byIdempotencyKey(ctx, idemKey)
			if err != nil {
				return o, false, err
			}
			return replay(d, o)
		}
		return o, false, fmt.Errorf("inserting the order: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return o, false, fmt.Errorf("reading the new order id: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return o, false, fmt.Errorf("committing the order: %w", err)
	}
	return order.Order{
		ID: strconv.FormatInt(id, 10), CustomerID: d.CustomerID, Channel: d.Channel, Status: order.Accepted,
		Currency: d.Currency, Items: d.Items, Total: d.Total, ShippingAddress: d.ShippingAddress, Notes: d.Notes,
		CreatedAt: now, UpdatedAt: now, Version: 1,
	}, false, nil
}

func replay(d order.Draft, o order.Order) (order.Order, bool, error) {
	if !d.SameAs(o) {
		return order.Order{}, false, orderapi.ErrIdempotencyConflict
	}
	return o, true, nil
}

func (s *Store) byIdempotencyKey(ctx context.Context, key string) (order.Order, error) {
	o, err := scanOrder(s.db.QueryRowContext(ctx, "SELECT "+orderColumns+" FROM orders WHERE idempotency_key = ?", key))
	if errors.Is(err, sql.ErrNoRows) {
		return o, orderapi.ErrNotFound
	}
	if err != nil {
		return o, fmt.Errorf("looking up idempotency key: %w", err)
	}
	return o, nil
}

// parseID accepts the decimal ids of the legacy table; anything else cannot
// exist here.
func parseID(id string) (uint64, bool) {
	if id == "" || id[0] == '0' || len(id) > 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(id, 10, 64)
	return n, err == nil
}

// maxRefLen is the width of the order_ref column.
const maxRefLen = 40

// byID is the WHERE condition and argument that find the order id: a
// decimal id is a legacy order without a ref (an order copied back from the
// new service is found only by its own id), an ord_ id one the sync-back
// copied here. ok is false for an id that cannot exist here.
func byID(id string) (cond string, arg any, ok bool) {
	if n, ok := parseID(id); ok {
		return "id = ? AND order_ref IS NULL", n, true
	}
	if strings.HasPrefix(id, orderitem.Prefix) && len(id) > len(orderitem.Prefix) && len(id) <= maxRefLen {
		return "order_ref = ?", id, true
	}
	return "", nil, false
}

// Get returns the order id of channel ch: a legacy decimal id, or the ord_
// id of an order the new service created and the sync-back copied here.
func (s *Store) Get(ctx context.Context, ch order.Channel, id string) (order.Order, error) {
	cond, arg, ok := byID(id)
	if !ok {
		return order.Order{}, orderapi.ErrNotFound
	}
	o, err := scanOrder(s.db.QueryRowContext(ctx, "SELECT "+orderColumns+" FROM orders WHERE "+cond+" AND channel = ?", arg, string(ch)))
	if errors.Is(err, sql.ErrNoRows) {
		return o, orderapi.ErrNotFound
	}
	if err != nil {
		return o, fmt.Errorf("reading order %s: %w", id, err)
	}
	return o, nil
}

// List returns up to limit orders of customer in channel ch, newest first,
// after cursor (empty for the first page).
func (s *Store) List(ctx context.Context, ch order.Channel, customer string, limit int, cursor string) (orderapi.Page, error) {
	q := "SELECT " + orderColumns + " FROM orders WHERE customer_id = ? AND channel = ?"
	args := []any{customer, string(ch)}
	if cursor != "" {
		at, id, err := decodeCursor(cursor)
		if err != nil {
			return orderapi.Page{}, err
		}
		q += " AND (created_at < ? OR (created_at = ? AND id < ?))"
		args = append(args, at, at, id)
	}
	q += " ORDER BY created_at DESC, id DESC LIMIT ?"
	args = append(args, limit+1)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return orderapi.Page{}, fmt.Errorf("listing orders: %w", err)
	}
	defer rows.Close()
	p := orderapi.Page{Orders: []order.Order{}}
	var ids []uint64 // surrogate ids: the cursor's tie-breaker, whatever id an order is served under
	for rows.Next() {
		o, id, err := scanRow(rows)
		if err != nil {
			return orderapi.Page{}, fmt.Errorf("listing orders: %w", err)
		}
		p.Orders = append(p.Orders, o)
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return orderapi.Page{}, fmt.Errorf("listing orders: %w", err)
	}
	if len(p.Orders) > limit {
		p.Orders = p.Orders[:limit]
		p.NextCursor = encodeCursor(p.Orders[limit-1].CreatedAt.Time, ids[limit-1])
	}
	return p, nil
}

// encodeCursor names the last row of a page by its created_at and its
// surrogate id (the ORDER BY), never by the id it is served under.
func encodeCursor(at time.Time, id uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMicro(), 10) + ":" + strconv.FormatUint(id, 10)))
}

func decodeCursor(c string) (time.Time, uint64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, 0, orderapi.ErrBadCursor
	}
	us, idStr, ok := strings.Cut(string(b), ":")
	micros, err1 := strconv.ParseInt(us, 10, 64)
	id, ok2 := parseID(idStr)
	if !ok || err1 != nil || !ok2 {
		return time.Time{}, 0, orderapi.ErrBadCursor
	}
	return time.UnixMicro(micros).UTC(), id, nil
}

// Cancel cancels the order unless it shipped. Cancelling a cancelled order
// changes nothing and returns it.
func (s *Store) Cancel(ctx context.Context, ch order.Channel, id string) (order.Order, error) {
	return s.transition(ctx, ch, id, order.Cancelled, func(from order.Status) (bool, error) {
		if from == order.Cancelled {
			return false, nil
		}
		if !from.CanCancel() {
			return false, &orderapi.TransitionError{From: from, To: order.Cancelled}
		}
		return true, nil
	})
}

// Advance moves the order to next along accepted -> processing -> shipped.
func (s *Store) Advance(ctx context.Context, ch order.Channel, id string, next order.Status) (order.Order, error) {
	return s.transition(ctx, ch, id, next, func(from order.Status) (bool, error) {
		if !from.CanAdvance(next) {
			return false, &orderapi.TransitionError{From: from, To: next}
		}
		return true, nil
	})
}

// transition locks the row, asks allow whether to change it, and if so sets
// the status, bumps the version and stamps updated_at, in one transaction.
func (s *Store) transition(ctx context.Context, ch order.Channel, id string, to order.Status, allow func(order.Status) (bool, error)) (order.Order, error) {
	cond, arg, ok := byID(id)
	if !ok {
		return order.Order{}, orderapi.ErrNotFound
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return order.Order{}, fmt.Errorf("beginning the status transaction: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	o, n, err := scanRow(tx.QueryRowContext(ctx, "SELECT "+orderColumns+" FROM orders WHERE "+cond+" AND channel = ? FOR UPDATE", arg, string(ch)))
	if errors.Is(err, sql.ErrNoRows) {
		return o, orderapi.ErrNotFound
	}
	if err != nil {
		return o, fmt.Errorf("reading order %s: %w", id, err)
	}
	change, err := allow(o.Status)
	if err != nil || !change {
		return o, err
	}
	now := order.NewTimestamp(s.now())
	if _, err := tx.ExecContext(ctx, "UPDATE orders SET status = ?, version = version + 1, updated_at = ? WHERE id = ?",
		string(to), now.Time, n); err != nil {
		return o, fmt.Errorf("updating order %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return o, fmt.Errorf("committing order %s: %w", id, err)
	}
	o.Status, o.UpdatedAt, o.Version = to, now, o.Version+1
	return o, nil
}
