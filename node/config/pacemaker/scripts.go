package pacemaker

import (
	"strings"
)

// param is one instance attribute, in the order it is written.
type param struct{ name, value string }

// wrapper reads the positional arguments of one of Heartbeat's resource.d
// scripts that only pass them on to the OCF agent of the same name
// (provider heartbeat) as OCF_RESKEY_* variables, the way the script does
// (Debian's heartbeat 3.0.6, /etc/ha.d/resource.d). It returns the
// agent's parameters, or ok false when the arguments are not what the
// script's usage accepts: such an entry is exported as the script itself
// (class heartbeat), which then fails as it fails under Heartbeat.
type wrapper func(args []string) (params []param, ok bool)

// wrappers are the resource.d scripts of Debian's heartbeat package that
// run an OCF agent, by name. WAS (which tells a file from a port by
// looking at the disk) and OCF (which reads a file of variables) are not
// here: they are exported as heartbeat-class scripts.
var wrappers = map[string]wrapper{
	"IPaddr":  addressWrapper("0"),
	"IPaddr2": addressWrapper("1"),
	"IPv6addr": func(a []string) ([]param, bool) {
		if len(a) != 1 || a[0] == "" {
			return nil, false
		}
		ip, rest, _ := strings.Cut(a[0], "/")
		ps := []param{{"ipv6addr", ip}}
		mask, nic, _ := strings.Cut(rest, "/")
		nic, _, _ = strings.Cut(nic, "/")
		if mask != "" {
			ps = append(ps, param{"cidr_netmask", mask})
		}
		if nic != "" {
			ps = append(ps, param{"nic", nic})
		}
		return ps, true
	},
	"Filesystem": func(a []string) ([]param, bool) {
		// device directory [fstype [options]]
		if len(a) < 2 || len(a) > 4 || hasEmpty(a) {
			return nil, false
		}
		return positional(a, "device", "directory", "fstype", "options"), true
	},
	"MailTo": func(a []string) ([]param, bool) {
		if len(a) < 1 || len(a) > 2 || hasEmpty(a) {
			return nil, false
		}
		return positional(a, "email", "subject"), true
	},
	"apache": func(a []string) ([]param, bool) {
		if len(a) > 1 || hasEmpty(a) {
			return nil, false
		}
		return positional(a, "configfile"), true
	},
	"AudibleAlarm": func(a []string) ([]param, bool) {
		if len(a) == 0 {
			return nil, true
		}
		return []param{{"nodelist", strings.Join(a, " ")}}, true
	},
	"Delay": func(a []string) ([]param, bool) {
		if len(a) > 2 || hasEmpty(a) {
			return nil, false
		}
		if len(a) == 0 {
			// The script's own default; the agent's is 30.
			return []param{{"startdelay", "10"}}, true
		}
		return positional(a, "startdelay", "stopdelay"), true
	},
	"ICP":       exactly("driveid", "device"),
	"IPsrcaddr": exactly("ipaddress"),
	"LVM":       exactly("volgrpname"),
	"LinuxSCSI": exactly("scsi"),
	"Raid1":     exactly("raidconf", "raiddev"),
	"SendArp": func(a []string) ([]param, bool) {
		if len(a) != 1 {
			return nil, false
		}
		ip, nic, ok := strings.Cut(a[0], "/")
		if !ok || ip == "" || nic == "" {
			return nil, false
		}
		return []param{{"ip", ip}, {"nic", nic}}, true
	},
	"ServeRAID": exactly("serveraid", "mergegroup"),
	"WinPopup": func(a []string) ([]param, bool) {
		switch {
		case len(a) == 0:
			return []param{{"hostfile", "hosts"}}, true
		case len(a) == 1 && a[0] != "":
			return []param{{"hostfile", a[0]}}, true
		}
		return nil, false
	},
	"Xinetd":    exactly("service"),
	"db2":       exactly("instance"),
	"portblock": exactly("protocol", "portno", "action"),
	"ids": func(a []string) ([]param, bool) {
		switch {
		case len(a) == 0:
			return nil, true
		case len(a) == 3 && !hasEmpty(a):
			return positional(a, "informixdir", "informixserver", "onconfig"), true
		}
		return nil, false
	},
}

// exactly is a wrapper taking exactly these arguments, in this order.
func exactly(names ...string) wrapper {
	return func(a []string) ([]param, bool) {
		if len(a) != len(names) || hasEmpty(a) {
			return nil, false
		}
		return positional(a, names...), true
	}
}

func positional(a []string, names ...string) []param {
	var ps []param
	for i, v := range a {
		ps = append(ps, param{names[i], v})
	}
	return ps
}

func hasEmpty(a []string) bool {
	for _, v := range a {
		if v == "" {
			return true
		}
	}
	return false
}

// addressWrapper is the IPaddr and IPaddr2 scripts: one argument
// ip[/netmask[/nic[/broadcast]]] (or ip/netmask/broadcast when the third
// piece starts with a digit), split as their sed commands split it (runs
// of '/' count as one, pieces after the broadcast are ignored), and
// lvs_support set as each script sets it (IPaddr 0, IPaddr2 1).
func addressWrapper(lvs string) wrapper {
	return func(a []string) ([]param, bool) {
		if len(a) != 1 {
			return nil, false
		}
		pieces := strings.Split(a[0], "/")
		ip := pieces[0]
		if ip == "" {
			return nil, false
		}
		var rest []string
		for _, p := range pieces[1:] {
			if p != "" {
				rest = append(rest, p)
			}
		}
		ps := []param{{"ip", ip}}
		if len(rest) > 0 {
			ps = append(ps, param{"cidr_netmask", rest[0]})
		}
		if len(rest) > 1 {
			if third := rest[1]; third[0] >= '0' && third[0] <= '9' {
				ps = append(ps, param{"broadcast", third})
			} else {
				ps = append(ps, param{"nic", third})
				if len(rest) > 2 {
					ps = append(ps, param{"broadcast", rest[2]})
				}
			}
		}
		return append(ps, param{"lvs_support", lvs}), true
	}
}
