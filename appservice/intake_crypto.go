package appservice

import (
	"context"
	"encoding/json"
	"fmt"
)

// KeyReceiver takes the end-to-end encryption data a homeserver with
// MSC2409/MSC3202 puts in appservice transactions (appservice/e2ee
// implements it). data is a JSON object with the fields of
// cryptoExtensions that were present, under their stable names.
type KeyReceiver interface {
	ReceiveTransactionKeys(ctx context.Context, data json.RawMessage) error
}

// cryptoExtensions are the transaction fields of MSC2409 (to-device
// messages) and MSC3202 (device lists, one-time key counts, unused
// fallback keys), under their stable and unstable names.
type cryptoExtensions struct {
	ToDevice            json.RawMessage `json:"to_device"`
	ToDeviceMSC2409     json.RawMessage `json:"de.sorunome.msc2409.to_device"`
	DeviceLists         json.RawMessage `json:"device_lists"`
	DeviceListsMSC3202  json.RawMessage `json:"org.matrix.msc3202.device_lists"`
	OTKCounts           json.RawMessage `json:"device_one_time_keys_count"`
	OTKCountsMSC3202    json.RawMessage `json:"org.matrix.msc3202.device_one_time_keys_count"`
	FallbackKeys        json.RawMessage `json:"device_unused_fallback_key_types"`
	FallbackKeysMSC3202 json.RawMessage `json:"org.matrix.msc3202.device_unused_fallback_key_types"`
}

func (s *Server) handleCryptoExtensions(ctx context.Context, x *cryptoExtensions) error {
	if s.Keys == nil {
		return nil
	}
	data := map[string]json.RawMessage{}
	for _, f := range []struct {
		name             string
		stable, unstable json.RawMessage
	}{
		{"to_device", x.ToDevice, x.ToDeviceMSC2409},
		{"device_lists", x.DeviceLists, x.DeviceListsMSC3202},
		{"device_one_time_keys_count", x.OTKCounts, x.OTKCountsMSC3202},
		{"device_unused_fallback_key_types", x.FallbackKeys, x.FallbackKeysMSC3202},
	} {
		switch {
		case len(f.stable) > 0 && string(f.stable) != "null":
			data[f.name] = f.stable
		case len(f.unstable) > 0 && string(f.unstable) != "null":
			data[f.name] = f.unstable
		}
	}
	if len(data) == 0 {
		return nil
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encryption data: %w", err)
	}
	return s.Keys.ReceiveTransactionKeys(ctx, raw)
}
