package workloads

import (
	"log/slog"
	"os"

	"go.temporal.io/sdk/log"
)

// QuietLogger logs warnings and errors only, to stderr.
func QuietLogger() log.Logger {
	return log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr,
		&slog.HandlerOptions{Level: slog.LevelWarn})))
}
