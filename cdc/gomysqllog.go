package cdc

import (
	"context"
	"log/slog"
)

// goMySQLLogger is the logger go-mysql's BinlogSyncer logs through. Its
// warnings and errors pass as they are. Its info lines (a few a
// connection) become debug lines: the streamer logs what matters of them.
// Its dump of the syncer's config on creation is dropped: slog's JSON
// handler cannot encode the config's function fields (it wrote
// "!ERROR:json: unsupported type"), and the streamer's own "streaming"
// line names the source.
func goMySQLLogger(log *slog.Logger) *slog.Logger {
	return slog.New(goMySQLHandler{log.With("component", "go-mysql").Handler()})
}

// goMySQLHandler is goMySQLLogger's handler. It may be copied.
type goMySQLHandler struct{ next slog.Handler }

// level is go-mysql's level l as logged: debug below warnings.
func (goMySQLHandler) level(l slog.Level) slog.Level {
	if l < slog.LevelWarn {
		return slog.LevelDebug
	}
	return l
}

func (h goMySQLHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, h.level(l))
}

func (h goMySQLHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "create BinlogSyncer" {
		return nil
	}
	r.Level = h.level(r.Level)
	return h.next.Handle(ctx, r)
}

func (h goMySQLHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return goMySQLHandler{h.next.WithAttrs(as)}
}

func (h goMySQLHandler) WithGroup(name string) slog.Handler {
	return goMySQLHandler{h.next.WithGroup(name)}
}
