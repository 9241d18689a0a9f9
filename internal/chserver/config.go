package chserver

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

// configTemplate is the server configuration. mark_cache_size has no default
// in 18.16 and must be present. Paths that ClickHouse concatenates with file
// names end in a slash.
var configTemplate = template.Must(template.New("config.xml").Funcs(template.FuncMap{"xml": xmlEscape}).Parse(`<?xml version="1.0"?>
<!-- Written by racktrack internal/chserver; rewritten on every start. -->
<yandex>
    <logger>
        <level>information</level>
        <log>{{xml .Dir}}/log/clickhouse-server.log</log>
        <errorlog>{{xml .Dir}}/log/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>2</count>
        <console>{{if .Console}}1{{else}}0{{end}}</console>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>{{.TCPPort}}</tcp_port>
    <http_port>{{.HTTPPort}}</http_port>
    <interserver_http_port>{{.InterserverPort}}</interserver_http_port>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <path>{{xml .Dir}}/data/</path>
    <tmp_path>{{xml .Dir}}/tmp/</tmp_path>
    <user_files_path>{{xml .Dir}}/user_files/</user_files_path>
    <format_schema_path>{{xml .Dir}}/format_schemas/</format_schema_path>
    <users_config>{{xml .Dir}}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>268435456</mark_cache_size>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
</yandex>
`))

// xmlEscape escapes s for use as XML character data.
func xmlEscape(s string) (string, error) {
	var b strings.Builder
	if err := xml.EscapeText(&b, []byte(s)); err != nil {
		return "", err
	}
	return b.String(), nil
}

// usersXML allows user "default" without a password from loopback only.
const usersXML = `<?xml version="1.0"?>
<!-- Written by racktrack internal/chserver; rewritten on every start. -->
<yandex>
    <profiles>
        <default>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
`

// writeConfig writes config.xml and users.xml into s.dir.
func (s *Server) writeConfig(console bool) error {
	var buf bytes.Buffer
	err := configTemplate.Execute(&buf, struct {
		Dir                                string
		TCPPort, HTTPPort, InterserverPort int
		Console                            bool
	}{s.dir, s.tcpPort, s.httpPort, s.iPort, console})
	if err != nil {
		return fmt.Errorf("render config.xml: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "config.xml"), buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "users.xml"), []byte(usersXML), 0o644); err != nil {
		return fmt.Errorf("write users: %w", err)
	}
	return nil
}
