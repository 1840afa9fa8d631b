//go:build race

package sim

// Under the race detector every schedule costs ten times as much: make
// test runs a sample here, and the full count without it (make sim).
const defaultSchedules = 100
