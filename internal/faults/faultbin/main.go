// Command faultbin is bizbots with the built-in services plus the
// test-only "faulty" service: a custom binary built the way docs/handlers.md
// tells a business to build one, used by the fault suite.
package main

import (
	"github.com/bizbots/bizbots/cmd/bizbotscmd"
	_ "github.com/bizbots/bizbots/internal/faults/faultsvc"
	_ "github.com/bizbots/bizbots/services/builtin"
)

func main() { bizbotscmd.Main() }
