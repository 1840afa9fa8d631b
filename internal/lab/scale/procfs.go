package scale

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/PID/stat (USER_HZ, 100 on
// Linux).
const userHZ = 100

// procUsage is what /proc says of one process.
type procUsage struct {
	// CPU is its own user+system time; Children the user+system time of
	// the children it waited for (the resource agents it ran).
	CPU, Children time.Duration
	// RSSKiB is its resident set (VmRSS).
	RSSKiB int64
}

// readUsage reads /proc/PID/stat and /proc/PID/status.
func readUsage(pid int) (procUsage, error) {
	var u procUsage
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, fmt.Errorf("read /proc/%d/stat: %w", pid, err)
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: state is f[0], utime f[11], stime f[12], cutime f[13],
	// cstime f[14].
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 15 {
		return u, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var ticks [4]int64
	for i := range ticks {
		if ticks[i], err = strconv.ParseInt(f[11+i], 10, 64); err != nil {
			return u, fmt.Errorf("/proc/%d/stat field %d: %w", pid, 14+i, err)
		}
	}
	u.CPU = time.Duration(ticks[0]+ticks[1]) * time.Second / userHZ
	u.Children = time.Duration(ticks[2]+ticks[3]) * time.Second / userHZ
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, fmt.Errorf("read /proc/%d/status: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			if fs := strings.Fields(v); len(fs) > 0 {
				u.RSSKiB, err = strconv.ParseInt(fs[0], 10, 64)
				return u, err
			}
		}
	}
	return u, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// memAvailable is the machine's available memory in bytes (MemAvailable
// of /proc/meminfo).
func memAvailable() (uint64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("read /proc/meminfo: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			if fs := strings.Fields(v); len(fs) > 0 {
				kib, err := strconv.ParseUint(fs[0], 10, 64)
				return kib * 1024, err
			}
		}
	}
	return 0, fmt.Errorf("/proc/meminfo: no MemAvailable")
}

// loadAverage is the machine's 1-minute load average (/proc/loadavg).
func loadAverage() (float64, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, fmt.Errorf("read /proc/loadavg: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("/proc/loadavg: empty")
	}
	return strconv.ParseFloat(f[0], 64)
}
