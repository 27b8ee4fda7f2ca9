package e2ee

import (
	"context"
	"encoding/json"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// transactionKeys is the encryption data of an appservice transaction
// (MSC2409 to-device messages, MSC3202 device lists and key counts), as
// appservice intake hands it over.
type transactionKeys struct {
	ToDevice    []json.RawMessage                              `json:"to_device"`
	DeviceLists *mautrix.DeviceLists                           `json:"device_lists"`
	OTKCounts   map[id.UserID]map[id.DeviceID]mautrix.OTKCount `json:"device_one_time_keys_count"`
	// FallbackKeys are the unused fallback key types per device.
	FallbackKeys map[id.UserID]map[id.DeviceID][]id.KeyAlgorithm `json:"device_unused_fallback_key_types"`
}

// toDeviceTarget is where an MSC2409 to-device event is addressed.
type toDeviceTarget struct {
	UserID   id.UserID   `json:"to_user_id"`
	DeviceID id.DeviceID `json:"to_device_id"`
}

// ReceiveTransactionKeys implements appservice.KeyReceiver: what the bots'
// devices would otherwise get from their own /sync (encryption.appservice).
// Malformed data is logged and dropped (a homeserver would resend it
// forever); a bot whose device is not set up yet gets an error, so the
// homeserver resends the transaction later.
func (c *Crypto) ReceiveTransactionKeys(ctx context.Context, data json.RawMessage) error {
	log := zerolog.Ctx(ctx)
	var tk transactionKeys
	if err := json.Unmarshal(data, &tk); err != nil {
		log.Warn().Err(err).Msg("malformed encryption data in a transaction; dropped")
		return nil
	}
	ctx = quiet(c.log).WithContext(ctx)
	for _, raw := range tk.ToDevice {
		var evt event.Event
		var to toDeviceTarget
		if json.Unmarshal(raw, &evt) != nil || json.Unmarshal(raw, &to) != nil {
			log.Warn().Msg("malformed to-device message in a transaction; dropped")
			continue
		}
		dev, err := c.device(to.UserID)
		if err != nil {
			if c.isBot(to.UserID) {
				return err // not set up yet: let the homeserver resend
			}
			continue
		}
		if to.DeviceID != "" && to.DeviceID != dev.client.DeviceID {
			continue
		}
		evt.Type.Class = event.ToDeviceEventType
		if err := evt.Content.ParseRaw(evt.Type); err != nil {
			log.Warn().Err(err).Str("type", evt.Type.Type).Msg("malformed to-device message; dropped")
			continue
		}
		dev.mach.HandleToDeviceEvent(ctx, &evt)
	}
	if tk.DeviceLists != nil && len(tk.DeviceLists.Changed) > 0 {
		// The device lists are shared by all bots: one fetch does.
		if dev := c.anyDevice(); dev != nil {
			dev.mach.HandleDeviceLists(ctx, tk.DeviceLists, "")
		}
	}
	for user, devices := range tk.OTKCounts {
		for deviceID, count := range devices {
			dev, err := c.device(user)
			if err != nil || dev.client.DeviceID != deviceID {
				continue
			}
			count.UserID, count.DeviceID = user, deviceID
			dev.mach.HandleOTKCounts(ctx, &count)
		}
	}
	for user, devices := range tk.FallbackKeys {
		for deviceID, unused := range devices {
			dev, err := c.device(user)
			if err != nil || dev.client.DeviceID != deviceID {
				continue
			}
			c.fallbackKeysReported(ctx, dev, unused)
		}
	}
	return nil
}

func (c *Crypto) isBot(user id.UserID) bool {
	for _, b := range c.bots {
		if b == user {
			return true
		}
	}
	return false
}

func (c *Crypto) anyDevice() *device {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, d := range c.devices {
		return d
	}
	return nil
}
