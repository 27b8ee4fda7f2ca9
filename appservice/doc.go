// Package appservice is bizbots' homeserver-facing HTTP API: the
// application-service endpoints a homeserver calls (transactions, user and
// room queries, ping), their authentication and their Matrix-style errors.
//
// Its one job on the message path is intake: a transaction is answered
// 200 only after its events are durably in the inbox, in one database
// transaction that also records the txn id. It never runs a handler: the
// dispatcher (package appservice/dispatcher) picks the inbox up from there,
// and the sender (appservice/sender) delivers the replies.
package appservice
