// Package builtin imports every built-in bizbots service so that each
// registers itself: ordering, taxi, appointments, support, autoreply, echo,
// and the handler guide's coffee example. A custom bizbots binary imports
// it (for its side effects) next to its own service packages; see
// cmd/bizbotscmd.
package builtin

import (
	_ "github.com/bizbots/bizbots/examples/coffee"
	_ "github.com/bizbots/bizbots/services/appointments"
	_ "github.com/bizbots/bizbots/services/autoreply"
	_ "github.com/bizbots/bizbots/services/echo"
	_ "github.com/bizbots/bizbots/services/ordering"
	_ "github.com/bizbots/bizbots/services/support"
	_ "github.com/bizbots/bizbots/services/taxi"
	_ "github.com/bizbots/bizbots/services/webhook"
)
