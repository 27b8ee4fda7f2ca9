// Command shop is a business's own bizbots binary: every built-in service
// plus the business's own (visits), built without forking bizbots.
package main

import (
	"github.com/bizbots/bizbots/cmd/bizbotscmd"
	_ "github.com/bizbots/bizbots/services/builtin"

	_ "example.com/shop/visits"
)

func main() { bizbotscmd.Main() }
