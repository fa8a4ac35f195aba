package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/devstack/eventbus/bustest"
	"github.com/anycompany/strangler/devstack/loadgen"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/stacktest"
	"github.com/anycompany/strangler/legacy"
	"github.com/anycompany/strangler/migrator"
)

// TestDoctorExitCodes needs the local stack: strangler doctor, configured
// only by the environment as scripts/demo.sh does, exits 0 when every check
// passes, 1 when one fails (naming it on stdout), 2 on a bad command line.
func TestDoctorExitCodes(t *testing.T) {
	ctx := t.Context()
	dsn := stacktest.MySQLDatabase(t)
	db, err := legacy.OpenDB(legacy.MySQLConfig{DSN: config.Secret(dsn), MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := legacy.NewSchemaMigrator(db).Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := loadgen.NewSeeder(db, loadgen.DefaultConfig(), slog.New(slog.DiscardHandler)).Seed(ctx, 20); err != nil {
		t.Fatal(err)
	}
	ddb := stacktest.DynamoDB(t)
	mcfg := migrator.DefaultConfig()
	mcfg.MySQL.DSN = config.Secret(dsn)
	mcfg.DynamoDB = stacktest.DynamoDBEndpoint()
	mcfg.Table, mcfg.ControlTable = stacktest.TableName(t, ddb, "orders"), stacktest.TableName(t, ddb, "control")
	if err := migrator.RunInit(ctx, mcfg, migrator.Env{Log: slog.New(slog.DiscardHandler), Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	shipped := eventbus.DefaultConfig()
	if err := config.Load(config.Source{Part: "eventbus", File: "../../configs/eventbus.yaml"}, &shipped); err != nil {
		t.Fatal(err)
	}
	bus := bustest.Start(t, func(c *eventbus.Config) { c.Rules = shipped.Rules })
	cdcDSN, _ := mysql.ParseDSN(dsn)
	cdcDSN.User, cdcDSN.Passwd = "cdc", "cdc"
	for k, v := range map[string]string{
		"STRANGLER_MIGRATOR_MYSQL_DSN": dsn, "STRANGLER_MIGRATOR_TABLE": mcfg.Table, "STRANGLER_MIGRATOR_CONTROL_TABLE": mcfg.ControlTable,
		"STRANGLER_MIGRATOR_DYNAMODB_URL": mcfg.DynamoDB.URL,
		"STRANGLER_CDC_MYSQL_DSN":         cdcDSN.FormatDSN(), "STRANGLER_CDC_TABLE": mcfg.Table, "STRANGLER_CDC_CONTROL_TABLE": mcfg.ControlTable,
		"STRANGLER_CDC_DYNAMODB_URL": mcfg.DynamoDB.URL, "STRANGLER_CDC_EVENTBRIDGE_URL": bus.URL,
	} {
		t.Setenv(k, v)
	}

	code, stdout, stderr := runCLI(t, "doctor", "--json")
	var got struct {
		OK     bool
		Checks []struct{ Level, What, Why, Fix string }
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || code != exitOK || !got.OK || len(got.Checks) < 10 {
		t.Errorf("doctor --json: exit %d, %v\nstdout:\n%s\nstderr:\n%s", code, err, stdout, stderr)
	}

	t.Setenv("STRANGLER_CDC_EVENTBRIDGE_URL", "http://127.0.0.1:1")
	code, stdout, stderr = runCLI(t, "doctor", "--max-wcu", "100")
	if code != exitFailed || !strings.Contains(stdout, "fail\tevent bus\t") || !strings.Contains(stdout, "eventbridge.url") ||
		!strings.Contains(stdout, "at backfill.max_wcu 100 units/s") || !strings.Contains(stderr, "1 of ") {
		t.Errorf("doctor with no bus: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	if code, _, stderr := runCLI(t, "doctor", "--config", "x.yaml"); code != exitConfig || !strings.Contains(stderr, "--migrator-config") {
		t.Errorf("doctor --config: exit %d, stderr %s", code, stderr)
	}
}
