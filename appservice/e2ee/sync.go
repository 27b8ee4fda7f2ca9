package e2ee

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/roomqueue"
	"github.com/bizbots/bizbots/store"
)

// syncLeaseQueue names the lease (in room_lease, keyed by the bot's user
// id) that lets one process at a time sync a bot's device: to-device
// messages are consumed by whoever syncs, so two syncers would split them.
const syncLeaseQueue = "e2ee_sync"

const (
	syncLease   = 2 * time.Minute
	syncTimeout = 30 * time.Second
)

// syncLoop receives the device's to-device messages (room keys, key
// requests), device list changes and one-time key counts by /sync with the
// device's own token, filtered to nothing else. This is how keys reach the
// bots on homeservers without MSC2409/MSC3202 for appservices (Dendrite,
// Conduit). The next batch token is kept in the crypto store, so nothing
// is lost or handled twice across restarts.
func (c *Crypto) syncLoop(ctx context.Context, dev *device) {
	log := zerolog.Ctx(ctx)
	owner := roomqueue.OwnerID("e2ee")
	defer func() {
		_ = c.db.ReleaseLease(context.WithoutCancel(ctx), syncLeaseQueue, dev.bot.String(), owner)
	}()
	for attempt := 0; ctx.Err() == nil; {
		ok, err := c.db.AcquireLease(ctx, syncLeaseQueue, dev.bot.String(), owner, syncLease.Milliseconds())
		if err == nil && ok {
			err = c.syncWhileLeased(ctx, dev, owner)
			if err == nil {
				attempt = 0
				continue
			}
		}
		wait := 10 * time.Second // another process syncs this device
		if err != nil && ctx.Err() == nil {
			wait = retryPolicy.Delay(attempt + 1)
			attempt++
			log.Warn().Err(err).Dur("retry_in", wait).Msg("to-device sync failed")
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// syncWhileLeased syncs until ctx ends or the lease is lost (nil), or a
// sync fails (the error).
func (c *Crypto) syncWhileLeased(ctx context.Context, dev *device, owner string) error {
	filter, err := dev.client.CreateFilter(ctx, toDeviceFilter())
	if errors.Is(err, mautrix.MUnknownToken) {
		if err := c.relogin(ctx, dev); err != nil {
			return err
		}
		filter, err = dev.client.CreateFilter(ctx, toDeviceFilter())
	}
	if err != nil {
		return fmt.Errorf("create sync filter: %w", err)
	}
	for ctx.Err() == nil {
		since, err := dev.store.LoadNextBatch(ctx, dev.bot)
		if err != nil {
			return err
		}
		resp, err := dev.client.SyncRequest(ctx, int(syncTimeout.Milliseconds()), since, filter.FilterID, false, event.PresenceOffline)
		if errors.Is(err, mautrix.MUnknownToken) {
			if err := c.relogin(ctx, dev); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("sync: %w", err)
		}
		c.process(ctx, dev, resp, since)
		if err := dev.store.SaveNextBatch(ctx, dev.bot, resp.NextBatch); err != nil {
			return err
		}
		if err := store.RenewLease(ctx, c.db, syncLeaseQueue, dev.bot.String(), owner, syncLease.Milliseconds()); err != nil {
			if errors.Is(err, store.ErrLeaseLost) {
				return nil
			}
			return err
		}
	}
	return nil
}

// process hands one sync response to the crypto machine; a panic in it is
// logged and the loop goes on.
func (c *Crypto) process(ctx context.Context, dev *device, resp *mautrix.RespSync, since string) {
	defer func() {
		if p := recover(); p != nil {
			zerolog.Ctx(ctx).Error().Interface("panic", p).Bytes("stack", debug.Stack()).Msg("handling to-device messages panicked")
		}
	}()
	dev.mach.ProcessSyncResponse(ctx, resp, since)
	if resp.FallbackKeys != nil { // absent where the homeserver has no fallback keys (Dendrite)
		c.fallbackKeysReported(ctx, dev, resp.FallbackKeys)
	}
}

func toDeviceFilter() *mautrix.Filter {
	none := []event.Type{{Type: "*"}}
	return &mautrix.Filter{
		Presence:    &mautrix.FilterPart{NotTypes: none},
		AccountData: &mautrix.FilterPart{NotTypes: none},
		Room: &mautrix.RoomFilter{
			IncludeLeave: false,
			Ephemeral:    &mautrix.FilterPart{NotTypes: none},
			AccountData:  &mautrix.FilterPart{NotTypes: none},
			State:        &mautrix.FilterPart{NotTypes: none},
			Timeline:     &mautrix.FilterPart{NotTypes: none},
		},
	}
}

// roomKeyArrived is called by the crypto machine when it stored a room
// key: encrypted events of that room waiting for a key become due.
func (c *Crypto) roomKeyArrived(ctx context.Context, room id.RoomID, _ id.SessionID, _ uint32) {
	woke, err := c.db.WakeEncrypted(ctx, room.String())
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Str("room_id", room.String()).Msg("cannot wake events waiting for a room key; they retry on their own")
		return
	}
	if woke && c.OnRoomKey != nil {
		c.OnRoomKey()
	}
}
