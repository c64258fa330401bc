package config

// Traps is the SNMP trap/inform listener. Owned by the SNMP collectors
// (collectors/snmp); validated there too.
//
//	traps:
//	  listen: 127.0.0.1:9162
//	  communities: [public]          # v1/v2c; anything else is dropped and counted
//	  users:                         # SNMPv3 (traps and informs)
//	    - user: monitor
//	      auth: {protocol: SHA256, passphrase_file: /etc/vedetta/trap.auth}
//	      priv: {protocol: AES, passphrase_file: /etc/vedetta/trap.priv}
//	  engine_id: 80001f8804766564657474 # hex; informs are sent to this engine (default derived)
type Traps struct {
	Listen      string     `yaml:"listen"`
	Communities []Secret   `yaml:"communities"`
	Users       []TrapUser `yaml:"users"`
	EngineID    string     `yaml:"engine_id"`
}

// TrapUser is one SNMPv3 user allowed to send traps and informs.
type TrapUser struct {
	User string        `yaml:"user"`
	Auth *TrapSecurity `yaml:"auth"`
	Priv *TrapSecurity `yaml:"priv"`
}

// TrapSecurity is a protocol and its passphrase (passphrase_file works).
type TrapSecurity struct {
	Protocol   string `yaml:"protocol"`
	Passphrase Secret `yaml:"passphrase"`
}
