package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// migration is one versioned schema step. Statements must be idempotent on
// their own (IF NOT EXISTS), so a migration that failed half-way, or that
// two collectors apply at the same time, can simply run again. {db} stands
// for the database name.
//
// Every statement must run on ClickHouse 18.16 and on current releases: no
// TTL, IPv4/IPv6, DateTime64, Map, Bool, JSONExtract, CODEC or
// LowCardinality, and no ALTER … IF NOT EXISTS (18.16 lacks it).
type migration struct {
	version    uint32
	name       string
	statements []string
}

// migrations is the schema history, oldest first. Never edit an applied
// migration; append a new one.
var migrations = []migration{
	{
		version: 1,
		name:    "initial schema",
		statements: []string{
			// observations is the raw stream, one row per (agent_id,
			// sequence). The row is written last for each batch, so its
			// presence means every row derived from it is in too; that is
			// what de-duplication checks. ReplacingMergeTree folds away any
			// duplicate that slips through (two collectors racing during a
			// rebalance); duplicates share observed_at and so a partition.
			`CREATE TABLE IF NOT EXISTS {db}.observations (
				agent_id String,
				sequence UInt64,
				site String,
				rack String,
				source String,
				target String,
				observed_at DateTime('UTC'),
				observed_at_ns UInt64,
				kind String,
				complete UInt8,
				incomplete Array(String),
				snapshot UInt8,
				agent_version String,
				payload String,
				kafka_partition Int32,
				kafka_offset Int64,
				ingested_at DateTime('UTC')
			) ENGINE = ReplacingMergeTree
			PARTITION BY toYYYYMMDD(observed_at)
			ORDER BY (agent_id, sequence)`,

			// servers is the current state of each server, one row per
			// (site, target) after merging; read it with FINAL. version is
			// observed_at in nanoseconds, so a late redelivery of an older
			// observation never replaces a newer one.
			`CREATE TABLE IF NOT EXISTS {db}.servers (
				site String,
				target String,
				rack String,
				agent_id String,
				sequence UInt64,
				source String,
				observed_at DateTime('UTC'),
				version UInt64,
				complete UInt8,
				incomplete Array(String),
				system_id String,
				manufacturer String,
				model String,
				sku String,
				serial_number String,
				uuid String,
				asset_tag String,
				bios_version String,
				hostname String,
				power_state String,
				health String,
				part_number String,
				system_type String,
				manager_id String,
				manager_manufacturer String,
				manager_model String,
				manager_firmware_version String,
				manager_mac_address String,
				manager_ip_address String,
				manager_uuid String,
				manager_health String,
				nics Nested (
					id String,
					adapter_id String,
					name String,
					mac_address String,
					link_status String,
					speed_mbps UInt32,
					health String
				),
				content_hash String,
				ingested_at DateTime('UTC')
			) ENGINE = ReplacingMergeTree(version)
			ORDER BY (site, target)`,

			// target_status is whether each polled target answered, per
			// agent (two agents may poll the same target name, e.g. eth0).
			`CREATE TABLE IF NOT EXISTS {db}.target_status (
				site String,
				agent_id String,
				target String,
				rack String,
				source String,
				sequence UInt64,
				observed_at DateTime('UTC'),
				version UInt64,
				reachable UInt8,
				operation String,
				error String,
				error_kind String,
				latency_ms UInt32,
				consecutive_failures UInt32,
				next_attempt DateTime('UTC'),
				requests UInt32,
				ingested_at DateTime('UTC')
			) ENGINE = ReplacingMergeTree(version)
			ORDER BY (site, agent_id, target)`,
		},
	},
	{
		version: 2,
		name:    "inventory state, history and time series",
		statements: []string{
			// device_state is the last observation that changed each
			// device's tracked state, per payload kind; the ingest stage
			// diffs new observations against it. digest hashes the
			// payload bytes, facts_hash the compared facts.
			`CREATE TABLE IF NOT EXISTS {db}.device_state (
				site String,
				device String,
				kind String,
				version UInt64,
				digest UInt64,
				facts_hash UInt64,
				agent_id String,
				sequence UInt64,
				observed_at DateTime('UTC'),
				payload String
			) ENGINE = ReplacingMergeTree(version)
			ORDER BY (site, device, kind)`,

			// device_seen is when each device was last observed, per kind,
			// whether or not anything changed: the age of its facts. It is
			// filled by ClickHouse from every insert into observations.
			// The device name rule is inventory.Device's.
			`CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.device_seen
			ENGINE = ReplacingMergeTree(version)
			ORDER BY (site, device, kind)
			AS SELECT
				site,
				if(source = 'lldp', concat(agent_id, '/', target), target) AS device,
				kind,
				observed_at_ns AS version,
				observed_at,
				agent_id,
				sequence,
				source,
				target,
				rack
			FROM {db}.observations`,

			// components are the parts of servers and switches (CPUs,
			// DIMMs, drives, NICs, PSUs, firmware, chassis, entities), one
			// row per (site, device, component). A component that
			// disappears gets a row with present = 0.
			`CREATE TABLE IF NOT EXISTS {db}.components (
				site String,
				device String,
				component String,
				type String,
				id String,
				name String,
				manufacturer String,
				model String,
				serial_number String,
				firmware_version String,
				health String,
				facts Nested (key String, value String),
				present UInt8,
				rack String,
				agent_id String,
				sequence UInt64,
				source String,
				observed_at DateTime('UTC'),
				version UInt64
			) ENGINE = ReplacingMergeTree(version)
			ORDER BY (site, device, component)`,

			`CREATE TABLE IF NOT EXISTS {db}.switches (
				site String,
				device String,
				rack String,
				sys_name String,
				sys_descr String,
				sys_object_id String,
				sys_contact String,
				sys_location String,
				manufacturer String,
				model String,
				serial_number String,
				software_version String,
				agent_id String,
				sequence UInt64,
				source String,
				observed_at DateTime('UTC'),
				version UInt64
			) ENGINE = ReplacingMergeTree(version)
			ORDER BY (site, device)`,

			`CREATE TABLE IF NOT EXISTS {db}.interfaces (
				site String,
				device String,
				name String,
				if_index Int32,
				descr String,
				alias String,
				if_type Int32,
				mtu Int32,
				speed_mbps UInt64,
				mac_address String,
				admin_status String,
				oper_status String,
				present UInt8,
				rack String,
				agent_id String,
				sequence UInt64,
				source String,
				observed_at DateTime('UTC'),
				version UInt64
			) ENGINE = ReplacingMergeTree(version)
			ORDER BY (site, device, name)`,

			// lldp_neighbors: what each device (a switch over SNMP, or an
			// agent's host interface) hears on each local port.
			`CREATE TABLE IF NOT EXISTS {db}.lldp_neighbors (
				site String,
				device String,
				neighbor String,
				local_port String,
				local_port_index Int32,
				chassis_id_subtype String,
				chassis_id String,
				port_id_subtype String,
				port_id String,
				port_description String,
				system_name String,
				system_description String,
				management_addresses Array(String),
				present UInt8,
				rack String,
				agent_id String,
				target String,
				sequence UInt64,
				source String,
				observed_at DateTime('UTC'),
				version UInt64
			) ENGINE = ReplacingMergeTree(version)
			ORDER BY (site, device, neighbor)`,

			`CREATE TABLE IF NOT EXISTS {db}.fdb_entries (
				site String,
				device String,
				vlan UInt32,
				mac_address String,
				port_name String,
				if_index Int32,
				bridge_port Int32,
				status String,
				present UInt8,
				rack String,
				agent_id String,
				sequence UInt64,
				source String,
				observed_at DateTime('UTC'),
				version UInt64
			) ENGINE = ReplacingMergeTree(version)
			ORDER BY (site, device, vlan, mac_address)`,

			// changes is the field-level history, derived at ingest. A
			// change re-derived from a redelivered observation has the
			// same key and folds into the first.
			`CREATE TABLE IF NOT EXISTS {db}.changes (
				site String,
				device String,
				observed_at DateTime('UTC'),
				kind String,
				component String,
				field String,
				change String,
				from_value String,
				to_value String,
				rack String,
				agent_id String,
				sequence UInt64,
				source String,
				target String,
				prev_observed_at DateTime('UTC'),
				ingested_at DateTime('UTC')
			) ENGINE = ReplacingMergeTree
			PARTITION BY toYYYYMM(observed_at)
			ORDER BY (site, device, observed_at, kind, component, field)`,

			`CREATE TABLE IF NOT EXISTS {db}.server_health (
				site String,
				device String,
				rack String,
				health String,
				power_state String,
				power_consumed_watts Float64,
				sensors UInt32,
				agent_id String,
				sequence UInt64,
				source String,
				observed_at DateTime('UTC'),
				version UInt64
			) ENGINE = ReplacingMergeTree(version)
			ORDER BY (site, device)`,

			// sensor_readings is the time series of ServerHealth sensors.
			`CREATE TABLE IF NOT EXISTS {db}.sensor_readings (
				site String,
				device String,
				name String,
				observed_at DateTime('UTC'),
				kind String,
				reading Float64,
				units String,
				health String,
				physical_context String,
				upper_critical Float64
			) ENGINE = ReplacingMergeTree
			PARTITION BY toYYYYMM(observed_at)
			ORDER BY (site, device, name, observed_at)`,

			`CREATE TABLE IF NOT EXISTS {db}.interface_counters (
				site String,
				device String,
				name String,
				observed_at DateTime('UTC'),
				in_octets UInt64,
				out_octets UInt64,
				in_errors UInt64,
				out_errors UInt64,
				in_discards UInt64,
				out_discards UInt64,
				in_unicast_packets UInt64,
				out_unicast_packets UInt64
			) ENGINE = ReplacingMergeTree
			PARTITION BY toYYYYMM(observed_at)
			ORDER BY (site, device, name, observed_at)`,
		},
	},
}

// SchemaVersion is the newest migration this build knows.
func SchemaVersion() uint32 { return migrations[len(migrations)-1].version }

// Migrate creates the database and applies every migration not yet
// recorded in {db}.schema_migrations, in order. It is idempotent and safe
// to run from several collectors at once. It returns the versions it
// applied.
func (s *Store) Migrate(ctx context.Context) ([]uint32, error) {
	if err := s.exec(ctx, "create database", "CREATE DATABASE IF NOT EXISTS {db}"); err != nil {
		return nil, err
	}
	if err := s.exec(ctx, "create schema_migrations", `CREATE TABLE IF NOT EXISTS {db}.schema_migrations (
		version UInt32,
		name String,
		applied_at DateTime('UTC')
	) ENGINE = ReplacingMergeTree ORDER BY version`); err != nil {
		return nil, err
	}
	done, err := s.AppliedMigrations(ctx)
	if err != nil {
		return nil, err
	}
	if len(done) > 0 && done[len(done)-1] > SchemaVersion() {
		s.log.Warn("database has migrations newer than this collector", "database", s.db,
			"database_version", done[len(done)-1], "known_version", SchemaVersion())
	}
	var applied []uint32
	for _, m := range migrations {
		if slices.Contains(done, m.version) {
			continue
		}
		op := fmt.Sprintf("migration %d (%s)", m.version, m.name)
		for i, stmt := range m.statements {
			if err := s.exec(ctx, fmt.Sprintf("%s statement %d", op, i+1), stmt); err != nil {
				return applied, err
			}
		}
		err := s.insert(ctx, op+": record", "schema_migrations",
			[]string{"version", "name", "applied_at"},
			[]uint32{m.version}, []string{m.name}, []time.Time{time.Now().UTC()})
		if err != nil {
			return applied, err
		}
		s.log.Info("applied migration", "database", s.db, "version", m.version, "name", m.name)
		applied = append(applied, m.version)
	}
	return applied, nil
}

// AppliedMigrations returns the recorded migration versions, ascending.
func (s *Store) AppliedMigrations(ctx context.Context) ([]uint32, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT version FROM "+s.t("schema_migrations")+" ORDER BY version")
	if err != nil {
		return nil, s.opError("read schema_migrations", err)
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, s.opError("read schema_migrations", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, s.opError("read schema_migrations", err)
	}
	return out, nil
}

// exec runs one DDL statement with {db} substituted.
func (s *Store) exec(ctx context.Context, op, stmt string) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if err := s.conn.Exec(ctx, strings.ReplaceAll(stmt, "{db}", s.db)); err != nil {
		return s.opError(op, err)
	}
	return nil
}

// insert writes one block column by column: columns[i] receives data[i],
// which must be a slice of the column's Go type, all of one length.
func (s *Store) insert(ctx context.Context, op, table string, columns []string, data ...any) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	batch, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.t(table)+" ("+strings.Join(columns, ", ")+")")
	if err != nil {
		return s.opError(op, err)
	}
	defer batch.Close()
	for i, d := range data {
		if err := batch.Column(i).Append(d); err != nil {
			return s.opError(op, fmt.Errorf("column %s: %w", columns[i], err))
		}
	}
	if err := batch.Send(); err != nil {
		return s.opError(op, err)
	}
	return nil
}

// SchemaSQL renders every migration for database as one SQL script, the
// way Migrate applies them (without the schema_migrations bookkeeping).
// deploy/clickhouse/schema.sql is this script for the default database.
func SchemaSQL(database string) string {
	var b strings.Builder
	b.WriteString("-- racktrack collector schema, generated from collector/store/migrate.go.\n")
	b.WriteString("-- The collector applies it itself at start (versioned, idempotent); this file\n")
	b.WriteString("-- is for reading and for provisioning by hand. Regenerate with\n")
	b.WriteString("--   go test ./collector/store -run TestSchemaFile -update\n\n")
	b.WriteString("CREATE DATABASE IF NOT EXISTS " + database + ";\n")
	for _, m := range migrations {
		fmt.Fprintf(&b, "\n-- migration %d: %s\n", m.version, m.name)
		for _, stmt := range m.statements {
			b.WriteString("\n" + dedent(strings.ReplaceAll(stmt, "{db}", database)) + ";\n")
		}
	}
	return b.String()
}

// dedent removes the Go source indentation from a statement.
func dedent(stmt string) string {
	lines := strings.Split(stmt, "\n")
	for i, l := range lines {
		if i > 0 {
			l = strings.TrimPrefix(l, "\t\t\t")
			lines[i] = strings.ReplaceAll(l, "\t", "    ")
		}
	}
	return strings.Join(lines, "\n")
}
