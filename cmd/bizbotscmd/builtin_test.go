package bizbotscmd

// The command's tests run bots of the built-in services, as the shipped
// binary does.
import _ "github.com/bizbots/bizbots/services/builtin"
