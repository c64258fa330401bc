//go:build race

package dispatch

// raceDetector: the race detector makes each schedule of the invariant
// test about eight times slower; .ci/run runs hundreds without it.
const raceDetector = true
