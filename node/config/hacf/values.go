package hacf

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseTime reads Heartbeat's time syntax: a number of seconds, possibly
// fractional ("2", "1.5", ".5"), or the same followed by a unit: "ms" or
// "msec" for milliseconds, "us" or "usec" for microseconds, "s" or "sec"
// for seconds; white space may separate number and unit. The result is
// rounded to the millisecond, as Heartbeat does.
func ParseTime(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	end := 0
	for end < len(t) && (t[end] >= '0' && t[end] <= '9' || t[end] == '.') {
		end++
	}
	num, unit := t[:end], strings.ToLower(strings.TrimSpace(t[end:]))
	if strings.Count(num, ".") > 1 || strings.Trim(num, ".") == "" {
		return 0, fmt.Errorf("%q is not a time (write seconds like 30, or milliseconds like 500ms)", s)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a time (write seconds like 30, or milliseconds like 500ms)", s)
	}
	var ms float64
	switch unit {
	case "", "s", "sec":
		ms = v * 1000
	case "ms", "msec":
		ms = v
	case "us", "usec":
		ms = v / 1000
	default:
		return 0, fmt.Errorf("%q: unknown time unit %q (use ms, us or s)", s, unit)
	}
	ms = math.Floor(ms + 0.5)
	if ms > float64(math.MaxInt64/int64(time.Millisecond)) {
		return 0, fmt.Errorf("%q is too long a time", s)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// ParseBool reads Heartbeat's booleans: true, on, yes, y, 1 and false,
// off, no, n, 0, in any case.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "on", "yes", "y", "1":
		return true, nil
	case "false", "off", "no", "n", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (use on or off)", s)
}

// parseUint reads a decimal number in [lo, hi].
func parseUint(s string, lo, hi uint64) (uint64, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("%q is not a number from %d to %d", s, lo, hi)
	}
	return v, nil
}

// durationString stores a duration in the native syntax.
func durationString(d time.Duration) string { return d.String() }
