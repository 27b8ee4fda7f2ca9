package dispatcher

// heldNote is kept on the inbox row of a message no handler saw because a
// person answers that conversation (the business console shows it).
const heldNote = "a person from the business has this conversation"

// withoutAgents drops the bots whose conversation in the room a person
// took over in the business console (held, from store.RoomView): their
// handlers stay silent there until the person hands it back. The
// customer's messages stay in the inbox, where the console reads them.
func withoutAgents(bots []*Bot, held map[string]bool) []*Bot {
	out := bots[:0:0]
	for _, b := range bots {
		if !held[b.UserID.String()] {
			out = append(out, b)
		}
	}
	return out
}
