package pacemaker

import (
	"fmt"
	"strings"
)

// stonithNames are the parameter names of cluster-glue's STONITH plugins
// in the order `stonith -p` and a stonith configuration file give them
// (`stonith -n -t TYPE`, Debian's cluster-glue 1.0.12). Options.StonithNames
// asks the machine's own plugins first; this table answers when it cannot
// (no cluster-glue there).
var stonithNames = map[string][]string{
	"apcmaster":              {"ipaddr", "login", "password"},
	"apcmastersnmp":          {"ipaddr", "port", "community"},
	"apcsmart":               {"ttydev", "hostlist"},
	"baytech":                {"ipaddr", "login", "password"},
	"bladehpi":               {"entity_root"},
	"cyclades":               {"ipaddr", "login", "serialport"},
	"drac3":                  {"host", "login", "password"},
	"external/drac5":         {"hostname", "ipaddr", "userid"},
	"external/dracmc-telnet": {"nodename", "cyclades_ip", "cyclades_port", "servername", "username", "password"},
	"external/hetzner":       {"hostname", "remote_ip"},
	"external/hmchttp":       {"hostlist", "hmc_ipaddr", "user", "password"},
	"external/ibmrsa":        {"hostname", "ipaddr", "userid", "passwd", "type"},
	"external/ibmrsa-telnet": {"nodename", "ip_address", "username", "password"},
	"external/ipmi":          {"hostname", "ipaddr", "userid", "passwd", "interface"},
	"external/ippower9258":   {"deviceip", "username", "password", "hostlist"},
	"external/kdumpcheck":    {"hostlist", "identity_file"},
	"external/libvirt":       {"hostlist", "hypervisor_uri", "reboot_method"},
	"external/nut":           {"hostname", "ups", "username", "password", "poweron", "poweroff", "reset", "statusvar", "upscmd", "upsc"},
	"external/rackpdu":       {"hostlist", "pduip", "community"},
	"external/riloe":         {"hostlist", "ilo_hostname", "ilo_user", "ilo_password", "ilo_can_reset", "ilo_protocol", "ilo_powerdown_method", "ilo_proxyhost", "ilo_proxyport"},
	"external/ssh":           {"hostlist"},
	"external/vcenter":       {"VI_SERVER", "VI_PORTNUMBER", "VI_PROTOCOL", "VI_SERVICEPATH", "VI_CREDSTORE", "HOSTLIST", "RESETPOWERON"},
	"external/vmware":        {"device_host"},
	"external/xen0":          {"hostlist", "dom0"},
	"external/xen0-ha":       {"hostlist", "dom0_cluster_ip", "timeout"},
	"ibmhmc":                 {"ipaddr"},
	"ipmilan":                {"hostname", "ipaddr", "port", "auth", "priv", "login", "password", "reset_method"},
	"meatware":               {"hostlist"},
	"null":                   {"hostlist"},
	"nw_rpc100s":             {"ttydev", "hostlist"},
	"rcd_serial":             {"hostlist", "ttydev", "dtr_rts", "msduration"},
	"rps10":                  {"serial_to_targets"},
	"ssh":                    {"hostlist"},
	"suicide":                {},
	"wti_mpc":                {"ipaddr", "port", "community", "mib-version"},
	"wti_nps":                {"ipaddr", "password"},
}

// stonithParams names the words of a stonith_host line (or of a stonith
// configuration file's first line) as cluster-glue does when it reads
// them (stonith1_compat_string_to_NVpair): word i is the plugin's i-th
// parameter and the last parameter takes the rest of the line, blanks
// and all. Too few words for the plugin's parameters make cluster-glue
// refuse the device; that is an error here too.
func stonithParams(typ string, names, words []string) ([]param, error) {
	if len(names) == 0 {
		return nil, nil
	}
	if len(words) < len(names) {
		return nil, fmt.Errorf("STONITH device %s takes %d parameters (%s), %d given: cluster-glue refuses the device", typ, len(names), strings.Join(names, " "), len(words))
	}
	ps := make([]param, len(names))
	for i, n := range names {
		v := words[i]
		if i == len(names)-1 {
			v = strings.Join(words[i:], " ")
		}
		ps[i] = param{n, v}
	}
	return ps, nil
}

// stonithConfigLine is the line of a stonith configuration file that
// cluster-glue reads: the first that is not blank and does not start with
// '#', split into words.
func stonithConfigLine(data []byte) []string {
	for _, ln := range strings.Split(string(data), "\n") {
		if ln == "" || ln == "\r" || strings.HasPrefix(ln, "#") {
			continue
		}
		return strings.Fields(ln)
	}
	return nil
}
