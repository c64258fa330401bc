// Command vedetta-sim simulates many SNMP agents in one process, from
// recordings of real devices, so you can try vedetta without hardware and
// load-test it (and the tools it is compared with) on one machine.
//
// # What it does
//
// Every agent answers SNMP v1 and v2c GET, GETNEXT and GETBULK from a
// snmpsim recording (a .snmprec file, e.g. ../shared/testdata/snmprec/).
// Agent i listens on UDP port --base-port + i; recordings are assigned to
// agents round-robin (--mix). With --single-port, one port serves every
// recording and the community chooses it (like snmpsimd: the community is
// the file name without .snmprec). At start it prints one line per agent on
// stdout, so you know what is where:
//
//	127.0.0.1:20000	ups	community=public	ok	/path/apc_smt750x-nmc2.snmprec
//	127.0.0.1:20001	switch	community=public	dead	/path/ios_2960x.snmprec
//
// It behaves like a real read-only agent: a wrong community, a SET, an
// SNMPv3 message or a v1 GETBULK gets no answer; a missing OID gives
// noSuchInstance (the object exists, e.g. sysName.1) or noSuchObject in v2c
// and error noSuchName (with its index) in v1; the end of the data gives
// endOfMibView (v2c) or noSuchName (v1). Counter64 values are invisible to
// SNMPv1, as with net-snmp's agent. GETBULK follows RFC 3416 (non-repeaters,
// max-repetitions; the list is cut to fit --max-msg and stops after a
// repetition in which every column reached the end); a GET or GETNEXT whose
// answer would not fit gets tooBig.
//
// # Usage
//
//	vedetta-sim --listen 127.0.0.1 --base-port 20000 --agents 1000 \
//	    --device ups=PATH/apc_smt750x-nmc2.snmprec --device switch=PATH/ios_2960x.snmprec \
//	    --mix ups:1,switch:1 --dead 0.05 --slow 0.05 --slow-delay 2s --seed 1 --stats
//
//	vedetta-sim --data-dir ../shared/testdata/snmprec --base-port 20000   # one agent per recording
//	vedetta-sim --data-dir ../shared/testdata/snmprec --single-port       # all on :20000, community = file name
//
// Look at an agent with net-snmp (numeric OIDs: the recordings' vendor MIBs
// are usually not installed):
//
//	snmpwalk -v2c -c public -On -m '' 127.0.0.1:20000 .1
//	snmpbulkwalk -v2c -Cr25 -c public -On -m '' 127.0.0.1:20001 .1.3.6.1.2.1.2.2
//
// # Flags
//
//	--listen IP          address of every agent (default 127.0.0.1)
//	--base-port N        UDP port of agent 0; agent i uses N+i (default 20000)
//	--agents N           number of agents (default: one per device, or one per --mix slot)
//	--device NAME=PATH   a .snmprec recording (repeatable); NAME defaults to the file name
//	--data-dir DIR       every DIR/*.snmprec, each a device named after its file
//	--mix A:w,B:w        round-robin weights of devices over agents (default: each device once, in order)
//	--dead F             fraction of agents that never answer (socket open, requests dropped)
//	--slow F             fraction of agents that answer only after --slow-delay
//	--slow-delay D       delay of the slow agents (default 2s)
//	--seed N             chooses the dead and slow agents and the counter rates (default 1)
//	--community S        community of every agent (default public; not with --single-port)
//	--single-port        one port (--base-port), one agent per device, community = device name
//	--counter-rate R     Counter32/Counter64 values grow by about R per second (see below); 0 = static
//	--max-msg N          largest response in bytes, 484..65507 (default 65507)
//	--stats              log requests served per second to stderr
//	--stats-interval D   interval of --stats (default 10s)
//	--quiet              do not print the port table
//	--admin HOST:PORT    serve the admin endpoint there (loopback only; off by default)
//
// Dead and slow agents are chosen by --seed among all agents: round(F×N) of
// each, never overlapping, the same set for the same seed and count; the
// table shows each agent's state (ok, dead, slow).
//
// # Moving counters
//
// By default every value is the recorded one, so rates computed from
// counters are zero. With --counter-rate R, every Counter32 and Counter64
// is the recorded value plus R × a × o × seconds since start, where a is a
// per-agent factor in [0.5, 1.5) (from --seed) and o a per-OID factor in
// [0.5, 1.5]; Counter32 wraps at 2^32. sysUpTime.0 then advances in real
// time too. Gauges, integers and strings never change.
//
// # Changing values at run time
//
// With --admin 127.0.0.1:PORT, an HTTP endpoint changes what the agents
// answer, e.g. to put a UPS on battery and watch the alarm arrive:
//
//	curl -X POST -d community=ups -d oid=1.3.6.1.4.1.318.1.1.1.4.1.1.0 -d value=3 127.0.0.1:8161/set
//	curl 127.0.0.1:8161/values?community=ups
//	curl -X POST -d community=ups 127.0.0.1:8161/reset          # back to the recording (add -d oid=... for one)
//
// POST /set takes form or JSON fields community (the device name, which is
// the community with --single-port; the common --community also works when
// one device is served), oid, value and, optionally, type (integer,
// string, hexstring, oid, ipaddress, counter32, gauge32, timeticks,
// counter64, opaque, null, or an snmprec tag such as 2 or 4x; by default
// the recorded type). The value is read like a value in a recording. From
// then on every agent serving that device answers the new value to GET,
// GETNEXT and GETBULK; an OID that is not recorded is added when its type
// is given. Bad input (unknown community, an OID not recorded and no type,
// a value its type cannot carry) gets HTTP 400 and a message. Changes live
// in memory only. The agents do not lock: each change builds a new table
// (copy-on-write) and swaps an atomic pointer. The endpoint has no
// authentication, hence loopback only.
//
// # Using it with vedetta
//
// Point targets at the agents:
//
//	targets:
//	  - name: sim-ups-0
//	    kind: snmp
//	    class: ups
//	    interval: 60s
//	    snmp: {address: 127.0.0.1:20000, community: public}
//	  - name: sim-switch-1
//	    kind: snmp
//	    class: switch
//	    interval: 60s
//	    snmp: {address: 127.0.0.1:20001, community: public, max_repetitions: 25}
//
// With --single-port, use the device name as community:
// `snmp: {address: 127.0.0.1:20000, community: ios_2960x}`.
//
// # Recordings
//
// Lines are `OID|TAG|VALUE` with tags 2 Integer, 4 OctetString, 5 Null,
// 6 OID, 64 IpAddress, 65 Counter32, 66 Gauge32, 67 TimeTicks, 68 Opaque,
// 70 Counter64; a tag ending in x (4x, 64x) has a hex value. As in
// snmpsimd, a line is trimmed of surrounding (ASCII) whitespace, so a plain
// value loses its trailing spaces, and a number is read as a number
// (`00000` is 0). Variation lines (`TAG:module|options`) take their value=
// or initial= option as a static value and are skipped otherwise; lines
// that cannot be used (among them values their type cannot carry, such as
// an IpAddress redacted to `<private>`, or a number out of range) are
// counted and logged at start, and the walk goes on past them (snmpsimd
// ends the walk there). Duplicate OIDs: the last line wins. Each recording is
// parsed once into an immutable table sorted by OID, with every varbind
// already BER-encoded; agents serving the same recording share it.
//
// # Performance
//
// One goroutine per agent socket with a reused 8 KiB read buffer (larger
// requests are dropped), answers built by a hand-written BER encoder into
// pooled buffers: a GETBULK of 25 varbinds takes about 0.45 µs and no
// allocation (BenchmarkGetBulk; gosnmp's decoder and MarshalMsg take 13 µs
// and 213 allocations for the same work), so the kernel's UDP path
// dominates. 1,000 agents use about 13 MB of memory and 1,000 sockets; the
// soft open-file limit is raised to the hard limit at start. SIGINT or
// SIGTERM close the sockets and exit 0.
package main
