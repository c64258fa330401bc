package config

// Traps is the SNMP trap/inform listener. Owned by the SNMP collectors
// (collectors/snmp); validated there too.
type Traps struct {
	Listen      string   `yaml:"listen"`
	Communities []Secret `yaml:"communities"`
}
