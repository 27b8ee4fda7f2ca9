// Package faults is the harness of the fault suite and the bad-input
// catalogue: it builds a bizbots binary (the real one, or one with the
// test-only "faulty" service from faultsvc), runs, kills -9 and restarts
// it, puts a fault-injecting front between it and its homeserver (Front)
// and internal/tcpproxy between it and its Postgres, and streams
// transactions at it the way Synapse and Dendrite do (Pusher). The
// scenarios themselves are the package's tests; internal/crashtest uses
// the same harness. Every target is on loopback and every loop is bounded.
package faults
