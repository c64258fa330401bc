//go:build !race

package alerting

const raceDetector = false
