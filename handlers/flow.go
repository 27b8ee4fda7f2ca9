package handlers

import (
	"context"
	"time"
)

// Flow is a small state machine for multi-step conversations ("ask the
// address → confirm"). Each step is a Handler; a step moves the flow on
// with c.Goto(next, …) or ends it with c.Clear(). The current step is
// stored with the conversation, so a flow survives restarts, and expires
// after Timeout without an answer.
type Flow struct {
	// Start handles messages when no step is active.
	Start Handler
	// Steps by name.
	Steps map[string]Handler
	// Timeout is how long a step waits for the customer (0: forever).
	Timeout time.Duration
	// Expired is called when the customer comes back after Timeout, with
	// c.ExpiredStep() telling where they were; the message is then
	// handled by Start. Nil sends nothing.
	Expired Handler
}

// Handle runs the current step, or Start.
func (f *Flow) Handle(ctx context.Context, c *Conversation, m *Message) error {
	if c.ExpiredStep() != "" && f.Expired != nil {
		if err := f.Expired.Handle(ctx, c, m); err != nil {
			return err
		}
	}
	if h, ok := f.Steps[c.Step()]; ok && c.Step() != "" {
		return h.Handle(ctx, c, m)
	}
	if f.Start != nil {
		return f.Start.Handle(ctx, c, m)
	}
	return nil
}

// Goto moves to step with the flow's timeout.
func (f *Flow) Goto(c *Conversation, step string) { c.Goto(step, f.Timeout) }
