package bizbotscmd

import (
	"runtime/debug"
	"runtime/metrics"
)

// gcPercent is the garbage collector's target for `serve` when the
// operator did not set one: the heap may grow to three times what is live
// (Go's default is twice) before a collection. bizbots keeps little live
// (tens of MB) and allocates per message, so collections were a tenth of
// its CPU; at 200 they cost half that: replies/s +10 % on SQLite and
// +5 % on Postgres in the benchmark, for 4–5 MB more RSS
// (docs/PERFORMANCE.md, seventh pass).
const gcPercent = 200

// setGCPercent applies gcPercent unless the GOGC environment variable
// (read by the Go runtime itself, as is GOMEMLIMIT) says otherwise, and
// returns the target in force.
func setGCPercent(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
		metrics.Read(s)
		// GOGC=off reads as the largest uint64: -1 as an int, as
		// debug.SetGCPercent reports it.
		return int(s[0].Value.Uint64())
	}
	debug.SetGCPercent(gcPercent)
	return gcPercent
}
