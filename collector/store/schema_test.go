package store_test

import (
	"context"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/racktrack/racktrack/collector/store"
	"github.com/racktrack/racktrack/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite deploy/clickhouse/schema.sql")

const schemaFile = "../../deploy/clickhouse/schema.sql"

// TestSchemaFile fails when deploy/clickhouse/schema.sql is not what the
// migrations render, and checks that the script runs on ClickHouse.
func TestSchemaFile(t *testing.T) {
	want := store.SchemaSQL("racktrack")
	if *update {
		if err := os.WriteFile(schemaFile, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatalf("%v (run: go test ./collector/store -run TestSchemaFile -update)", err)
	}
	if string(got) != want {
		t.Fatalf("%s is stale; run: go test ./collector/store -run TestSchemaFile -update", schemaFile)
	}

	srv := testenv.SharedClickHouse(t)
	db := testenv.ClickHouseDatabase(t, srv)
	conn := testenv.ClickHouseConn(t, srv, db)
	for _, stmt := range strings.Split(store.SchemaSQL(db), ";\n") {
		var sql []string
		for _, l := range strings.Split(stmt, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "--") {
				sql = append(sql, l)
			}
		}
		if s := strings.TrimSpace(strings.Join(sql, "\n")); s != "" {
			if err := conn.Exec(context.Background(), s); err != nil {
				t.Fatalf("schema statement failed: %v\n%s", err, s)
			}
		}
	}
}
