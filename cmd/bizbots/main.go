// Command bizbots is the bizbots binary with the built-in services. Its
// whole program is in package bizbotscmd, so a business can build the same
// binary with its own services added (see docs/handlers.md).
package main

import (
	"github.com/bizbots/bizbots/cmd/bizbotscmd"
	_ "github.com/bizbots/bizbots/services/builtin"
)

func main() { bizbotscmd.Main() }
