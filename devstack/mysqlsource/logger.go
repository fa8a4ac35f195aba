package mysqlsource

import "log/slog"

// discardLogger keeps go-mysql's own logging out of test output.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
