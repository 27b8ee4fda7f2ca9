package appservice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/rs/zerolog"

	"github.com/bizbots/bizbots/store"
)

var (
	intakeTxns = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "bizbots_intake_transactions_total",
		Help: "Transactions received from the homeserver, by result (stored, replay, rejected, error).",
	}, []string{"result"})
	intakeEvents = promauto.NewCounter(prometheus.CounterOpts{
		Name: "bizbots_intake_events_total",
		Help: "New events appended to the inbox.",
	})
	intakeDropped = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "bizbots_intake_dropped_events_total",
		Help: "Events of stored transactions that were not stored, by reason (malformed, no_sender, invalid_id).",
	}, []string{"reason"})
	intakeSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "bizbots_intake_transaction_seconds",
		Help:    "Time from request to durable commit of a transaction.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})
)

// transaction is the body of PUT /transactions/{txnId}. Timeline events
// go to the inbox; to-device messages, device list changes and one-time
// key counts (MSC2409/MSC3202, for end-to-end encryption) go to Server.Keys
// when it is set, and are otherwise ignored, as is ephemeral data.
type transaction struct {
	Events *[]json.RawMessage `json:"events"`
	cryptoExtensions
}

func (s *Server) serveTransaction(w http.ResponseWriter, r *http.Request, txnID string) {
	start := time.Now()
	txnID = txnKey(txnID)
	log := s.Log.With().Str("txn_id", txnID).Logger()
	var txn transaction
	if err := decodeJSON(r, s.MaxBodyBytes, &txn); err != nil {
		intakeTxns.WithLabelValues("rejected").Inc()
		log.Warn().Err(err).Msg("transaction rejected")
		writeDecodeError(w, err)
		return
	}
	if txn.Events == nil {
		intakeTxns.WithLabelValues("rejected").Inc()
		writeError(w, http.StatusBadRequest, ErrBadJSON, "Transaction has no 'events' array")
		return
	}
	events := make([]store.IncomingEvent, 0, len(*txn.Events))
	dropped := map[string]int{}
	now := store.Now()
	for _, raw := range *txn.Events {
		ev, reason := parseEvent(raw, now)
		if reason != "" {
			dropped[reason]++
			intakeDropped.WithLabelValues(reason).Inc()
			continue
		}
		events = append(events, ev)
	}
	// A database that does not answer must not hold the homeserver:
	// it gets a 500 within the store's timeout and retries.
	timeout := s.DB.Timeout
	if timeout <= 0 {
		timeout = store.DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	// Keys first: a room key that arrives with the message it opens is
	// stored before the message is handled. A failure is answered 500, so
	// the homeserver resends the whole transaction.
	if err := s.handleCryptoExtensions(ctx, &txn.cryptoExtensions); err != nil {
		intakeTxns.WithLabelValues("error").Inc()
		log.Error().Err(err).Msg("could not take the transaction's encryption data; the homeserver will retry")
		writeError(w, http.StatusInternalServerError, ErrUnknown, "Could not take the transaction; retry later")
		return
	}
	added, replay, err := s.DB.StoreTransaction(ctx, txnID, events)
	if err != nil {
		intakeTxns.WithLabelValues("error").Inc()
		log.Error().Err(err).Int("events", len(events)).Msg("could not store transaction; the homeserver will retry")
		writeError(w, http.StatusInternalServerError, ErrUnknown, "Could not store the transaction; retry later")
		return
	}
	took := time.Since(start)
	intakeSeconds.Observe(took.Seconds())
	intakeEvents.Add(float64(added))
	result := "stored"
	if replay && added == 0 {
		result = "replay"
	}
	intakeTxns.WithLabelValues(result).Inc()
	ev := log.Debug()
	if len(dropped) > 0 {
		reasons := zerolog.Dict()
		for reason, n := range dropped {
			reasons.Int(reason, n)
		}
		ev = log.Warn().Dict("dropped", reasons)
	}
	ev.Int("events", len(events)).Int("new", added).Bool("replay", replay).Dur("took", took).Msg("transaction stored")
	if added > 0 && s.Stored != nil {
		s.Stored(store.RoomsOf(events)...)
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

var (
	errTooLarge = errors.New("request body too large")
	errNotJSON  = errors.New("request body is not valid JSON")
	// errEmptyBody comes wrapped in errNotJSON; endpoints whose body is
	// optional (ping) accept it.
	errEmptyBody = errors.New("request body is empty")
)

// decodeJSON reads at most limit bytes of JSON into dst.
func decodeJSON(r *http.Request, limit int64, dst any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if int64(len(body)) > limit {
		return fmt.Errorf("%w (limit %d bytes)", errTooLarge, limit)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return fmt.Errorf("%w: %w", errNotJSON, errEmptyBody)
	}
	if err := json.Unmarshal(body, dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return fmt.Errorf("%w: field %q has the wrong type", errBadShape, typeErr.Field)
		}
		return fmt.Errorf("%w: %v", errNotJSON, err)
	}
	return nil
}

var errBadShape = errors.New("request body has the wrong shape")

func writeDecodeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, ErrTooLarge, err.Error())
	case errors.Is(err, errNotJSON):
		writeError(w, http.StatusBadRequest, ErrNotJSON, "Request body is not valid JSON")
	case errors.Is(err, errBadShape):
		writeError(w, http.StatusBadRequest, ErrBadJSON, err.Error())
	default:
		writeError(w, http.StatusBadRequest, ErrUnknown, err.Error())
	}
}
