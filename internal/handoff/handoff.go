// Package handoff is the wire form of a business console hand-over: the
// console queues one as a timer in the customer's conversation (so the
// bot's handler gets it in order with the customer's messages, exactly
// once), and handlers.Message.Handoff reads it back. Only the framework
// uses this package; handler authors see handlers.Handoff.
package handoff

import "encoding/json"

// TimerName is the timer name of a hand-over. Handlers' own timers do not
// start with "org.bizbots.".
const TimerName = "org.bizbots.handoff"

// Actions.
const (
	Take  = "take"  // a person took the conversation over
	Back  = "back"  // they handed it back to the bot
	Close = "close" // they closed it
)

// Payload is a hand-over as the timer carries it.
type Payload struct {
	Action string `json:"action"`
	Agent  string `json:"agent"`
}

// Encode is the timer payload of p.
func Encode(p Payload) string {
	b, _ := json.Marshal(p)
	return string(b)
}

// Decode reads a timer payload; ok is false when it is not a hand-over.
func Decode(name, payload string) (Payload, bool) {
	var p Payload
	if name != TimerName || json.Unmarshal([]byte(payload), &p) != nil {
		return Payload{}, false
	}
	switch p.Action {
	case Take, Back, Close:
		return p, p.Agent != ""
	}
	return Payload{}, false
}
