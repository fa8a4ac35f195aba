package cdc

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/deadletter"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/guard"
)

// NewReplayer returns the Replayer of the dead letters in store, as
// 'strangler deadletters replay' and the console run it: a row image is
// decoded with cfg's mapping (resolved against cfg's MySQL on the first row
// replayed) and written under the position guard (put mode) to cfg's table;
// an event is published on cfg's EventBridge. by names the operator in the
// audit line. The returned func releases the MySQL handle.
func NewReplayer(ctx context.Context, cfg Config, store *deadletter.Store, by string, log *slog.Logger) (*deadletter.Replayer, func(), error) {
	ddb, err := cfg.DynamoDB.DynamoDB(ctx)
	if err != nil {
		return nil, nil, err
	}
	eb, err := cfg.EventBridge.EventBridge(ctx)
	if err != nil {
		return nil, nil, err
	}
	db, err := sql.Open("mysql", cfg.MySQL.DSN.Reveal())
	if err != nil {
		return nil, nil, fmt.Errorf("mysql.dsn: %w", err)
	}
	rp := &deadletter.Replayer{
		Store: store, Items: guard.NewWriter(ddb, cfg.Table, guard.Put, guard.Options{Concurrency: 1}), By: by,
		TombstoneTTL: cfg.TombstoneTTL, Log: log.With("component", "deadletters"),
		Publisher: func(source, bus string, dead events.DeadLetterSink) deadletter.Publisher {
			return events.NewPublisher(eb, events.PublisherOptions{Source: source, Bus: bus, Concurrency: 1, DeadLetters: dead, Logger: log.With("component", "publisher")})
		},
		Resolve: func(ctx context.Context) (*codec.Mapping, error) { return codec.Resolve(ctx, db, cfg.Mapping) },
	}
	return rp, func() { db.Close() }, nil
}
