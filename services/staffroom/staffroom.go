// Package staffroom decides who may use a service's staff commands. A
// command counts only in the configured staff room, and only from the
// people the business listed (`staff:`), or, without a list, from members
// whose power level in that room is at least the configured one (default
// 50, what Element calls a moderator), as the homeserver has it when the
// command comes. It parses and posts nothing itself.
package staffroom

import (
	"context"
	"fmt"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
)

// DefaultPowerLevel is the power level staff need when no list is given.
const DefaultPowerLevel = 50

// Policy is one bot's staff room and who may give commands in it.
type Policy struct {
	Room  id.RoomID
	staff map[id.UserID]bool
	level int
}

// New checks a service's staff settings: room is a room id ("" for
// none), staff Matrix user ids, level the power level needed without a
// list (nil: DefaultPowerLevel). Errors name the option.
func New(room string, staff []string, level *int) (Policy, error) {
	p := Policy{Room: id.RoomID(room), level: DefaultPowerLevel}
	if room != "" && (!strings.HasPrefix(room, "!") || !strings.Contains(room, ":")) {
		return Policy{}, fmt.Errorf("staff_room: %q is not a room id (it looks like !abc123:example.org; aliases such as #staff:example.org are not resolved — copy the id from the room's settings)", room)
	}
	if len(staff) > 0 {
		p.staff = make(map[id.UserID]bool, len(staff))
	}
	for i, s := range staff {
		if _, _, err := id.UserID(s).ParseAndValidateRelaxed(); err != nil {
			return Policy{}, fmt.Errorf("staff[%d]: %q is not a Matrix user id like @sam:example.org", i, s)
		}
		p.staff[id.UserID(s)] = true
	}
	if level != nil {
		if *level < 0 {
			return Policy{}, fmt.Errorf("staff_power_level: %d is negative; use 50 for moderators, 100 for admins", *level)
		}
		if len(staff) > 0 {
			return Policy{}, fmt.Errorf("staff_power_level: set it or staff, not both (with a staff list, only the people listed count)")
		}
		p.level = *level
	}
	if room == "" && (len(staff) > 0 || level != nil) {
		return Policy{}, fmt.Errorf("staff: set staff_room too (staff give their commands there)")
	}
	return p, nil
}

// In reports whether the conversation is in the staff room.
func (p Policy) In(c *handlers.Conversation) bool { return p.Room != "" && c.Room == p.Room }

// Allows reports whether the conversation's sender may give staff
// commands: in the staff room, listed, or with enough power there.
func (p Policy) Allows(ctx context.Context, c *handlers.Conversation) (bool, error) {
	if !p.In(c) {
		return false, nil
	}
	if p.staff != nil {
		return p.staff[c.Customer.ID], nil
	}
	level, err := c.PowerLevel(ctx, c.Customer.ID)
	if err != nil {
		return false, err
	}
	return level >= p.level, nil
}

// Candidate reports whether user may be staff as far as the list goes:
// listed, or any member when there is no list (power levels decide at
// command time).
func (p Policy) Candidate(user id.UserID) bool { return p.staff == nil || p.staff[user] }

// Refusal is the polite answer to someone who may not; nothing says what
// did not happen ("Nothing was sent to the customer.").
func (p Policy) Refusal(c *handlers.Conversation, nothing string) string {
	if p.staff != nil {
		return fmt.Sprintf("Sorry %s, only the staff listed for this bot can use its commands here. %s", c.Customer.Name(), nothing)
	}
	return fmt.Sprintf("Sorry %s, only members with power level %d or more in this room can use my commands. %s", c.Customer.Name(), p.level, nothing)
}
