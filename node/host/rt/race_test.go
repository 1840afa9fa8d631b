//go:build race

package rt

// raceEnabled: the race detector maps terabytes of shadow memory, which
// mlockall would try to fault in; the helper does not lock memory then.
const raceEnabled = true
