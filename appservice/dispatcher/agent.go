package dispatcher

import (
	"context"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/store"
)

// heldNote is kept on the inbox row of a message no handler saw because a
// person answers that conversation (the business console shows it).
const heldNote = "a person from the business has this conversation"

// withoutAgents drops the bots whose conversation in room a person took
// over in the business console: their handlers stay silent there until
// the person hands it back. The customer's messages stay in the inbox,
// where the console reads them.
func (d *Dispatcher) withoutAgents(ctx context.Context, bots []*Bot, room id.RoomID) ([]*Bot, error) {
	out := bots[:0:0]
	for _, b := range bots {
		held, err := store.AgentHolds(ctx, d.db, b.UserID.String(), room.String())
		if err != nil {
			return nil, err
		}
		if !held {
			out = append(out, b)
		}
	}
	return out, nil
}
