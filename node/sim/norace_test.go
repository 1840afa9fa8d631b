//go:build !race

package sim

const defaultSchedules = 2000
