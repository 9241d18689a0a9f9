-- racktrack collector schema, generated from collector/store/migrate.go.
-- The collector applies it itself at start (versioned, idempotent); this file
-- is for reading and for provisioning by hand. Regenerate with
--   go test ./collector/store -run TestSchemaFile -update

CREATE DATABASE IF NOT EXISTS racktrack;

-- migration 1: initial schema

CREATE TABLE IF NOT EXISTS racktrack.observations (
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
ORDER BY (agent_id, sequence);

CREATE TABLE IF NOT EXISTS racktrack.servers (
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
ORDER BY (site, target);

CREATE TABLE IF NOT EXISTS racktrack.target_status (
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
ORDER BY (site, agent_id, target);

-- migration 2: inventory state, history and time series

CREATE TABLE IF NOT EXISTS racktrack.device_state (
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
ORDER BY (site, device, kind);

CREATE MATERIALIZED VIEW IF NOT EXISTS racktrack.device_seen
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
FROM racktrack.observations;

CREATE TABLE IF NOT EXISTS racktrack.components (
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
ORDER BY (site, device, component);

CREATE TABLE IF NOT EXISTS racktrack.switches (
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
ORDER BY (site, device);

CREATE TABLE IF NOT EXISTS racktrack.interfaces (
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
ORDER BY (site, device, name);

CREATE TABLE IF NOT EXISTS racktrack.lldp_neighbors (
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
ORDER BY (site, device, neighbor);

CREATE TABLE IF NOT EXISTS racktrack.fdb_entries (
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
ORDER BY (site, device, vlan, mac_address);

CREATE TABLE IF NOT EXISTS racktrack.changes (
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
ORDER BY (site, device, observed_at, kind, component, field);

CREATE TABLE IF NOT EXISTS racktrack.server_health (
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
ORDER BY (site, device);

CREATE TABLE IF NOT EXISTS racktrack.sensor_readings (
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
ORDER BY (site, device, name, observed_at);

CREATE TABLE IF NOT EXISTS racktrack.interface_counters (
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
ORDER BY (site, device, name, observed_at);
